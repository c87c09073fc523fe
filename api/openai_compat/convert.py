"""From OpenAI's chat shape to the query pipeline and back: the question and its history, the answer's text with
its sources, and the request's limits (``max_tokens``, ``stop``, ``temperature``).

Limits: the platform's default mode (``reader``) writes nothing: its answer is a span
of a passage. So ``max_tokens`` and ``stop`` are applied to the answer's text here, in
every mode (counted with the embedding model's tokenizer, the one tokenizer that is
always loaded: the generator's would load the generator for a reader answer). Where a
mode generates, they and ``temperature`` also go into its generation settings
(:func:`writing`, carried by the request's ``AnswerOptions``), so the model stops where the client asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from api.openai_compat.schemas import MAX_STOP, ChatRequest, MessageIn
from core.errors import InvalidInputError
from rag.pipeline import Answer, Citation
from rag.pipeline.answer import WriteSettings
from rag.pipeline.followup import Turn
from rag.pipeline.request import question_head

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
Counter = Callable[[str], int]  # tokens of a text


def message_text(message: MessageIn) -> str:
    """A message's text: its string content, or its text parts joined (other parts are refused)."""
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    kinds = {part.type for part in content} - {"text"}
    if kinds:
        raise InvalidInputError(
            f"message content of type {', '.join(sorted(kinds))} cannot be read here; send text only"
        )
    return "\n".join(part.text or "" for part in content)


def conversation(messages: list[MessageIn]) -> tuple[str, list[Turn]]:
    """The question (the last message, the user's) and the turns before it (system messages are left out:
    the answer is found in the collection, as its mode says, not by following instructions)."""
    if not messages:
        raise InvalidInputError("messages is empty; send at least one user message with the question")
    unknown = sorted({m.role for m in messages} - set(ROLES))
    if unknown:
        raise InvalidInputError(f"unknown message role(s) {', '.join(unknown)}; use {', '.join(ROLES)}")
    if messages[-1].role != "user":
        raise InvalidInputError(
            f"the last message must be the user's question, got a {messages[-1].role!r} message; end with the "
            "question as a 'user' message"
        )
    history = [Turn(m.role, message_text(m)) for m in messages[:-1] if m.role in ("user", "assistant")]
    return message_text(messages[-1]), history


@dataclass(frozen=True)
class Limits:
    """What the client allows the answer: at most ``max_tokens`` tokens, ending before any of ``stop``."""

    max_tokens: int | None = None
    stop: tuple[str, ...] = ()

    @classmethod
    def of(cls, request: ChatRequest) -> Limits:
        stop = request.stop
        stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
        if len(stops) > MAX_STOP or any(not s for s in stops):
            raise InvalidInputError(f"stop takes at most {MAX_STOP} non-empty strings, got {list(stops)!r}")
        return cls(request.max_completion_tokens or request.max_tokens, stops)

    @property
    def hold(self) -> int:
        """Characters a stream holds back: a stop string may begin in them."""
        return max((len(s) for s in self.stop), default=1) - 1


def limited(text: str, limits: Limits, count: Counter) -> tuple[str, str | None]:
    """``text`` cut before its first stop string and to ``max_tokens``; and why it was cut ("stop", "length")."""
    finish = None
    cuts = [i for i in (text.find(s) for s in limits.stop) if i >= 0]
    if cuts:
        text, finish = text[: min(cuts)], "stop"
    if limits.max_tokens is not None:
        head = question_head(text, count, limits.max_tokens)  # the longest beginning that fits, ending at a word
        if head != text:
            text, finish = head.rstrip(), "length"
    return text, finish


class StreamLimiter:
    """The answer's pieces as they come, cut as :func:`limited` cuts the whole: what each piece adds to send.

    A piece is sent up to the space before its last word, less :attr:`Limits.hold` characters,
    so that a cut found later (a stop string completed, a word past ``max_tokens``)
    never falls in text already sent.
    """

    def __init__(self, limits: Limits, count: Counter) -> None:
        self.limits, self.count = limits, count
        self.text = ""
        self.sent = 0
        self.finish: str | None = None

    def feed(self, piece: str) -> str:
        if self.finish is not None:
            return ""
        self.text += piece
        if not self.limits.stop and self.limits.max_tokens is None:
            return self._send(len(self.text))
        cut, self.finish = limited(self.text, self.limits, self.count)
        if self.finish is not None:
            return self._send(len(cut))
        safe = len(self.text) - self.limits.hold
        if self.limits.max_tokens is not None:  # the last word may grow past the limit (a cut drops the space too)
            safe = min(safe, max(self.text.rfind(" "), self.text.rfind("\n")))
        return self._send(max(safe, self.sent))

    def close(self) -> str:
        """What is left to send at the end of the answer."""
        if self.finish is not None:
            return ""
        cut, self.finish = limited(self.text, self.limits, self.count)
        return self._send(len(cut))

    def _send(self, end: int) -> str:
        out = self.text[self.sent : end]
        self.sent = max(self.sent, end)
        return out


def source_line(c: Citation) -> str:
    """``1. deck.pptx, slide 7, chars 0-120`` (``page 3`` where the format has pages; ``read by OCR`` for scans)."""
    where = f", {c.location}" if c.location else f", page {c.page}" if c.page is not None else ""
    ocr = ", read by OCR" if c.ocr else ""
    return f"{c.number}. {c.filename}{where}, chars {c.char_start}-{c.char_end}{ocr}"


def sources(citations: list[Citation], text: str = "") -> str:
    """The trailing "Sources:" list of the cited passages (those whose ``[n]`` is in ``text``, when given)."""
    cited = [c for c in citations if not text or f"[{c.number}]" in text]
    return "\n\nSources:\n" + "\n".join(source_line(c) for c in cited) if cited else ""


def answer_text(answer: Answer, limits: Limits, count: Counter) -> tuple[str, str]:
    """The assistant message of ``answer`` (markers, then the sources it cites) and its finish reason."""
    text, finish = limited(answer.answer, limits, count)
    return text + sources(answer.citations, text), finish or "stop"


def writing(request: ChatRequest, limits: Limits) -> WriteSettings:
    """The request's temperature, token budget and stop strings for the modes that write."""
    return WriteSettings(temperature=request.temperature, max_tokens=limits.max_tokens, stop=limits.stop)
