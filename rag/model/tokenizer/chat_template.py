"""The chat template a GGUF carries (``tokenizer.chat_template``), rendered as transformers renders it.

The template is Jinja2 written by whoever converted the model, so it runs in
Jinja's immutable sandbox (no attribute of Python internals, no mutating
methods) with the environment transformers gives it
(``_compile_jinja_template``): ``trim_blocks`` and ``lstrip_blocks``, the
``loopcontrols`` extension, the ``{% generation %}`` tag, ``raise_exception``,
``strftime_now`` and a ``tojson`` filter that does not escape HTML. The
variables are transformers' too: ``messages``, ``add_generation_prompt``,
``tools``, ``documents``, ``bos_token``, ``eos_token`` and any extra ones
(``enable_thinking``, ``date_string``...).

A template is data from a file, so a broken one must not take the process
down: a syntax error, an undefined name or a failing call becomes a
:class:`ChatTemplateError` that names the problem; so does a render that runs
longer than ``MAX_SECONDS`` (checked at every call, attribute or item lookup,
loop step over ``range`` and piece of output) or writes more than
``MAX_CHARS``, and one that recurses without end. A template that refuses the
messages (``raise_exception``: "System role not supported") raises
:class:`~core.errors.ConfigError` with its message. A loop that neither calls,
looks up nor writes anything cannot be interrupted; no real template does that.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

from core.errors import ConfigError
from rag.model.errors import ModelFileError

__all__ = ["MAX_CHARS", "MAX_SECONDS", "ChatTemplate", "ChatTemplateError", "fold_system"]

MAX_SECONDS = 5.0  # a real template renders a long conversation in milliseconds
MAX_CHARS = 16_000_000


class ChatTemplateError(ModelFileError):
    """The GGUF's chat template does not compile, fails while rendering, or runs away."""


class _Refused(Exception):
    """Raised by ``raise_exception`` inside the template; carries the template's own message."""


class _GenerationTag(Extension):
    """``{% generation %}...{% endgeneration %}`` marks the assistant's text for training masks; it renders its body."""

    tags = {"generation"}  # noqa: RUF012 (jinja's Extension API)

    def parse(self, parser: Any) -> list[nodes.Node]:
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


class _Guarded(ImmutableSandboxedEnvironment):
    """The sandbox, checking the render's deadline on every call, lookup and ``range`` step."""

    def __init__(self) -> None:
        super().__init__(trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationTag, "jinja2.ext.loopcontrols"])
        self.deadline = threading.local()

    def check(self) -> None:
        if time.monotonic() > getattr(self.deadline, "at", float("inf")):
            raise TimeoutError(f"it ran for more than {MAX_SECONDS:g} s")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (jinja's signature)
        __self.check()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.check()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.check()
        return super().getitem(obj, argument)


def _tojson(
    x: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None, sort_keys: bool = False
) -> str:
    """transformers' ``tojson``: plain ``json.dumps`` (Jinja's own escapes ``<``, ``>``, ``&`` and ``'``)."""
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise_exception(message: str) -> None:
    raise _Refused(message)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class _Range(Sequence[int]):
    """The sandbox's ``range`` (capped at ``jinja2.sandbox.MAX_RANGE`` items) checking the deadline at each step."""

    def __init__(self, items: range, check: Callable[[], None]) -> None:
        self._items, self._check = items, check

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: Any) -> Any:
        item = self._items[index]
        return _Range(item, self._check) if isinstance(item, range) else item

    def __iter__(self) -> Iterator[int]:
        for i in self._items:
            self._check()
            yield i


def _environment() -> _Guarded:
    env = _Guarded()
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    capped_range = env.globals["range"]
    env.globals["range"] = lambda *args: _Range(capped_range(*args), env.check)
    return env


class ChatTemplate:
    """A compiled ``tokenizer.chat_template``.

    Args:
        source: the Jinja2 source.
        bos_token, eos_token: the texts of the vocabulary's BOS and EOS tokens ("" when it has none).

    Raises:
        ChatTemplateError: the source does not compile.
    """

    def __init__(self, source: str, bos_token: str = "", eos_token: str = "") -> None:
        self.source = source
        self.bos_token, self.eos_token = bos_token, eos_token
        self._env = _environment()
        try:
            self._template = self._env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise ChatTemplateError(
                f"the GGUF's chat template does not compile (line {exc.lineno}: {exc.message})"
            ) from exc

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        add_generation_prompt: bool = True,
        tools: Sequence[Mapping[str, Any]] | None = None,
        documents: Sequence[Mapping[str, Any]] | None = None,
        **variables: Any,
    ) -> str:
        """The prompt text for ``messages`` (dicts with "role" and "content"), as transformers' apply_chat_template.

        Raises:
            ConfigError: the template refused the messages (its ``raise_exception``).
            ChatTemplateError: the template failed, ran longer than MAX_SECONDS or wrote more than MAX_CHARS.
        """
        context = {
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
            **variables,
            "messages": [dict(m) for m in messages],
            "tools": [dict(t) for t in tools] if tools is not None else None,
            "documents": [dict(d) for d in documents] if documents is not None else None,
            "add_generation_prompt": add_generation_prompt,
        }
        self._env.deadline.at = time.monotonic() + MAX_SECONDS
        try:
            return self._collect(self._template.generate(**context))
        except _Refused as exc:
            raise ConfigError(f"the model's chat template refused these messages: {exc}") from None
        except RecursionError:
            raise ChatTemplateError("the GGUF's chat template recursed without end") from None
        except (ChatTemplateError, ConfigError):
            raise
        except Exception as exc:  # noqa: BLE001 (any failure inside foreign template code is the template's)
            raise ChatTemplateError(f"the GGUF's chat template failed: {type(exc).__name__}: {exc}") from exc
        finally:
            self._env.deadline.at = float("inf")

    @cached_property
    def supports_system_role(self) -> bool:
        """Whether a system message reaches the prompt (Gemma refuses one); probed once, as llama.cpp does."""
        probe = "<system probe 7f3a>"
        try:
            return probe in self.render([{"role": "system", "content": probe}, {"role": "user", "content": "hi"}])
        except (ConfigError, ChatTemplateError):
            return False

    def _collect(self, pieces: Iterator[str]) -> str:
        out, size = [], 0
        for piece in pieces:
            self._env.check()
            size += len(piece)
            if size > MAX_CHARS:
                raise ChatTemplateError(f"the GGUF's chat template wrote more than {MAX_CHARS:,} characters")
            out.append(piece)
        return "".join(out)


def fold_system(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Messages for a template without a system role: system texts go before the next user message's text.

    Joined by a blank line; a system message with no user message after it becomes a user message.
    """
    out: list[dict[str, Any]] = []
    pending: list[str] = []
    for message in messages:
        if message.get("role") == "system":
            pending.append(str(message.get("content", "")))
            continue
        if pending and message.get("role") == "user":
            message = {**message, "content": "\n\n".join([*pending, str(message.get("content", ""))])}
            pending = []
        out.append(dict(message))
    if pending:
        out.append({"role": "user", "content": "\n\n".join(pending)})
    return out
