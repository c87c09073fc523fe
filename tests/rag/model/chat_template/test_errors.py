"""A template that refuses, does not compile, fails, loops or writes without end gives an error that names it."""

from __future__ import annotations

import time

import jinja2
import pytest

from core.errors import ConfigError
from rag.model.tokenizer import chat_template
from rag.model.tokenizer.chat_template import ChatTemplate, ChatTemplateError
from tests.rag.model.chat_template.templates import ALTERNATING, CASES, GEMMA2, WITH_SYSTEM, reference


def test_a_refusal_by_the_template_is_a_config_error_with_its_message():
    gemma = ChatTemplate(GEMMA2, "<bos>", "<eos>")
    with pytest.raises(jinja2.TemplateError, match="System role not supported"):  # transformers refuses too
        reference(CASES["gemma2"]).apply_chat_template(WITH_SYSTEM[0], tokenize=False)
    with pytest.raises(ConfigError, match="System role not supported"):
        gemma.render(WITH_SYSTEM[0])
    with pytest.raises(ConfigError, match="must alternate"):
        gemma.render([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% for m in messages %}{{ m.content }", "does not compile"),
        ("{% endfor %}", "does not compile"),
    ],
)
def test_a_template_that_does_not_compile_is_named(source, message):
    with pytest.raises(ChatTemplateError, match=message):
        ChatTemplate(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ messages[3]['content'] }}", "UndefinedError"),
        ("{{ messages.append(1) }}", "SecurityError"),  # the sandbox is immutable
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "SecurityError|UndefinedError"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursed without end"),
    ],
)
def test_a_template_that_fails_gives_a_clear_error(source, message):
    with pytest.raises(ChatTemplateError, match=message):
        ChatTemplate(source).render(ALTERNATING[0])


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% set x = j %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for m in messages * 100000 %}{{ m.role }}{% endfor %}{% endfor %}",
    ],
)
def test_a_template_that_loops_is_stopped(source, monkeypatch):
    monkeypatch.setattr(chat_template, "MAX_SECONDS", 0.3)
    monkeypatch.setattr(chat_template, "MAX_CHARS", 10**9)
    started = time.monotonic()
    with pytest.raises(ChatTemplateError, match="ran for more than 0.3 s"):
        ChatTemplate(source).render(ALTERNATING[0])
    assert time.monotonic() - started < 3


def test_a_template_that_writes_without_end_is_stopped(monkeypatch):
    monkeypatch.setattr(chat_template, "MAX_CHARS", 100_000)
    with pytest.raises(ChatTemplateError, match="more than 100,000 characters"):
        ChatTemplate("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}").render(ALTERNATING[0])
