"""The shipped templates render conversations, tools and template variables exactly as transformers does."""

from __future__ import annotations

from datetime import datetime

import pytest

from rag.model.tokenizer.chat_template import ChatTemplate, fold_system
from tests.rag.model.chat_template.templates import (
    ALTERNATING,
    CASES,
    GEMMA2,
    LLAMA32,
    TOOL_CHAT,
    TOOLS,
    WITH_SYSTEM,
    Case,
    conversations,
    reference,
)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_rendering_equals_transformers(name, add_generation_prompt):
    case = CASES[name]
    ref, ours = reference(case), ChatTemplate(case.source, case.bos, case.eos)
    for messages in conversations(name):
        expected = ref.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        assert ours.render(messages, add_generation_prompt=add_generation_prompt) == expected, messages
        assert messages[-1]["content"].strip() in expected


@pytest.mark.parametrize("name", ["qwen2.5", "llama3.2"])
def test_tools_and_tool_calls_equal_transformers(name):
    case = CASES[name]
    ref, ours = reference(case), ChatTemplate(case.source, case.bos, case.eos)
    chat = TOOL_CHAT if name == "qwen2.5" else TOOL_CHAT[:2] + [{"role": "user", "content": "thanks"}]
    expected = ref.apply_chat_template(chat, tools=TOOLS, tokenize=False, add_generation_prompt=True)
    assert ours.render(chat, tools=TOOLS) == expected
    assert "<fast> & exact" in expected and "RAG ü" in expected  # tojson neither escapes HTML nor ASCII-fies


def test_template_variables_equal_transformers():
    case = CASES["qwen3-style"]
    ref, ours = reference(case), ChatTemplate(case.source, case.bos, case.eos)
    chat = WITH_SYSTEM[1] + [{"role": "assistant", "content": f"A{i}"} for i in range(8)]
    for thinking in (True, False):
        expected = ref.apply_chat_template(chat, tokenize=False, add_generation_prompt=True, enable_thinking=thinking)
        assert ours.render(chat, enable_thinking=thinking) == expected
    assert "<think>" in ours.render(chat, enable_thinking=False) and "A7" not in expected  # {% break %} stopped it
    llama32 = ChatTemplate(LLAMA32, "<|begin_of_text|>", "<|eot_id|>")
    assert f"Today Date: {datetime.now():%d %b %Y}" in llama32.render(ALTERNATING[0])  # strftime_now
    assert "Today Date: 1 Jan 2025" in llama32.render(ALTERNATING[0], date_string="1 Jan 2025")


def test_range_behaves_like_jinjas():
    source = (
        "{{ range(3)|length }}|{{ range(5)[2] }}|{{ range(10)[2:4]|list }}|{% for i in range(3)|reverse %}{{ i }}"
        "{% if loop.last %}!{% endif %}{% endfor %}|{{ range(messages|length - 1, -1, -1)|list }}"
    )
    case = Case(source, "<s>", "</s>")
    expected = reference(case).apply_chat_template(ALTERNATING[1], tokenize=False)
    assert ChatTemplate(source).render(ALTERNATING[1]) == expected == "3|2|[2, 3]|210!|[2, 1, 0]"


def test_system_messages_are_folded_for_a_template_without_a_system_role():
    gemma = ChatTemplate(GEMMA2, "<bos>", "<eos>")
    assert not gemma.supports_system_role
    without = {name for name, c in CASES.items() if not ChatTemplate(c.source).supports_system_role}
    assert without == {"gemma2", "qwen3-style"}  # the second drops system messages ({% continue %})
    folded = fold_system(WITH_SYSTEM[1])
    assert folded[0] == {"role": "user", "content": "  Be brief.  \n\nQ1"} and len(folded) == 3
    expected = reference(CASES["gemma2"]).apply_chat_template(folded, tokenize=False, add_generation_prompt=True)
    assert gemma.render(folded) == expected and "Be brief." in expected
    assert fold_system([{"role": "system", "content": "s"}]) == [{"role": "user", "content": "s"}]
