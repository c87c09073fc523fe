"""SQuAD-style scores of one answer text against its gold answers, with the citation markers taken out first."""

from __future__ import annotations

import re

from rag.metrics import exact_match, normalize_answer, token_f1


def without_citations(text: str) -> str:
    return re.sub(r"\[\d+(?:,\s*\d+)*\]", " ", text)


def contains_answer(prediction: str, answers: tuple[str, ...]) -> float:
    padded = f" {normalize_answer(prediction)} "
    return float(any(f" {normalize_answer(a)} " in padded for a in answers))


def score(text: str, answers: tuple[str, ...]) -> dict:
    text = without_citations(text)
    return {"em": exact_match(text, answers), "f1": token_f1(text, answers), "contains": contains_answer(text, answers)}
