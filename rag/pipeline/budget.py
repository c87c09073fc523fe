"""How RAG answers are generated: the settings against degenerate repetition, and the token budget.

:func:`answer_generation` gives the settings every answer starts from; they were
tuned with ``benchmarks/answer_quality.py --tune`` on its tune split (40 SQuAD 2.0
questions of the first 8 dev-half articles) and reported on held-out questions:

* the repetition stop at the second copy of 12 generated tokens: it ended the 20%
  of answers that looped to 256 tokens, kept every gold answer, and fires on
  0.3% of human-written paragraphs (8 tokens: 5%; a 4-token span thrice: 21%);
* a repetition penalty of 1.1 on generated tokens only. Counting the prompt too
  (llama.cpp's and transformers' way) cost gold answers at every value tried
  (1.1: 42.5% -> 37.5% of answers contain one), since the answer should copy
  the passages' words; on output only 1.1 was the best of 1.0-1.3 (45%, mean
  answer 62 tokens instead of 87), and 1.2 already lost answers (32.5%).

:func:`answer_config` then lowers the token budget for short questions. A reply that
loops runs until its budget is spent, so the budget bounds what a loop the stop
misses can cost. A factoid question ("who", "when", "where", "how many") is
answered in a sentence or two; the platform's setting (``RAG_MAX_ANSWER_TOKENS``)
stays the budget of questions that ask for an explanation, a comparison or a list,
and of long questions.
"""

from __future__ import annotations

import re
from dataclasses import replace

from rag.generate.base import GenerationConfig

REPEAT_NGRAM = 12  # stop at the second copy of this many generated tokens
REPETITION_PENALTY = 1.1  # on generated tokens only
SHORT_ANSWER_TOKENS = 96  # tune split: correct short answers ended by 81 tokens (one ran to 144, its answer early)
SHORT_QUESTION_WORDS = 12  # a question of more words keeps the full budget unless it opens like a factoid

# Opens like a question whose answer is a name, a date, a place or a number.
FACTOID = re.compile(
    r"^\s*(who|whom|whose|when|where|which|what\s+(year|day|date|time|percentage|number|amount|age|country|city)"
    r"|how\s+(many|much|long|old|far|big|large|tall|often|fast))\b",
    re.IGNORECASE,
)
# Asks for an explanation, a comparison or an enumeration: the full budget, however short the question.
EXPLANATORY = re.compile(
    r"\b(why|explain|describe|compare|contrast|summari[sz]e|discuss|outline|list|steps?|differences?|"
    r"advantages|disadvantages|pros|cons|in detail|overview|how\s+(do|does|did|can|could|should|would|is|are|to))\b",
    re.IGNORECASE,
)


def answer_generation(max_tokens: int = 256) -> GenerationConfig:
    """The settings of a RAG answer of at most ``max_tokens`` tokens (greedy)."""
    return GenerationConfig(
        max_tokens=max_tokens,
        repetition_penalty=REPETITION_PENALTY,
        penalize_prompt=False,
        stop_repeat_ngram=REPEAT_NGRAM,
        stop_repeat_count=2,
    )


def answer_tokens(question: str, limit: int, short: int = SHORT_ANSWER_TOKENS) -> int:
    """The most tokens the answer to ``question`` may take.

    Args:
        question: the user's question.
        limit: the budget of explanatory and long questions (the platform's setting).
        short: the budget of factoid and short questions; never more than ``limit``.
    """
    if EXPLANATORY.search(question):
        return limit
    if FACTOID.match(question) or len(question.split()) <= SHORT_QUESTION_WORDS:
        return min(short, limit)
    return limit


def answer_config(config: GenerationConfig, question: str) -> GenerationConfig:
    """``config`` with ``max_tokens`` lowered to the budget of ``question`` (see :func:`answer_tokens`)."""
    budget = answer_tokens(question, config.max_tokens)
    return config if budget == config.max_tokens else replace(config, max_tokens=budget)
