"""Reader answers: the trained span reader finds the answer in the retrieved passages, or says none states it.

The reader (:mod:`rag.reader`) reads every passage (in overlapping windows
where one is long) and scores the best span of each against that passage's
"no answer" score. The span with the highest margin is the answer, unless
its margin is under ``READER_THRESHOLD`` (fitted on the calibration half of the
SQuAD 2.0 dev half: ``rag eval qa --part calibrate --configs reader``), and
then the platform abstains. The answer states the span and cites its passage
with the span's exact characters, and quotes the sentence that holds it: the
citation is supported by construction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.pipeline.prompt import Passage
from rag.pipeline.sentences import split_sentences
from rag.reader import Reader, confidence

# Margin (span score - null score) from which a span is taken to answer the question. Fitted on the calibration
# half of the SQuAD 2.0 dev half (`rag eval qa --part calibrate --sample 400 --configs reader`, retrieval k = 5):
# the threshold of best balanced accuracy there (8.78, 0.587) answers only 36% of the answerable questions,
# because SQuAD 2.0's unanswerable questions were written against the very paragraph retrieved and this reader
# barely tells them apart; so the threshold is the best one that still answers 80% of the answerable questions
# (balanced accuracy 0.52 there). Off-topic questions score far lower (benchmarks/README.md "The reader").
READER_THRESHOLD = 1.937
# confidence = sigmoid(READER_SCALE * (margin - READER_CENTER)): the probability that the answer is right (token
# F1 >= 0.5), a logistic fitted on the same 400 calibration questions (half of them unanswerable).
READER_SCALE = 0.1437
READER_CENTER = 10.17
_EDGE = " \t\n,;:([{\"'“‘*`|"  # left out of a span's ends: a span reads "Cisco", not "Cisco," or "`500"
_EDGE_END = " \t\n,;:)]}\"'”’.*`|"
_BREAK = re.compile(r"\n|\s\|\s")  # a span stops at a line break or a table cell's border


@dataclass(frozen=True)
class SpanAnswer:
    """The reader's answer in one passage.

    Attributes:
        passage: the passage's number.
        text: the span, ``chunk.text[start:end]``.
        start, end: characters of the span in the passage's chunk text.
        sentence_start, sentence_end: characters of the sentence that holds it, in the chunk text.
        margin: span score minus the passage's "no answer" score (what abstention compares).
        confidence: the calibrated probability that the span answers the question.
    """

    passage: int
    text: str
    start: int
    end: int
    sentence_start: int
    sentence_end: int
    margin: float
    confidence: float


@dataclass(frozen=True)
class Reading:
    """What the reader found: the best span, or None when no passage had text; ``answers`` says whether it answers."""

    span: SpanAnswer | None
    answers: bool


class ReadPassages:
    """Stage: the best span of the passages and whether it clears the threshold.

    Args:
        reader: returns the reader, loaded on first use.
        threshold, scale, center: see :data:`READER_THRESHOLD`, :data:`READER_SCALE` and :data:`READER_CENTER`.
    """

    def __init__(
        self,
        reader: Callable[[], Reader],
        threshold: float = READER_THRESHOLD,
        scale: float = READER_SCALE,
        center: float = READER_CENTER,
    ):
        self.reader = reader
        self.threshold = threshold
        self.scale = scale
        self.center = center

    def __call__(self, question: str, passages: Sequence[Passage]) -> Reading:
        if not passages:
            return Reading(None, False)
        best = self.reader().best(question, [p.chunk.text for p in passages])
        if best is None:
            return Reading(None, False)
        passage = passages[best.passage]
        text = passage.chunk.text
        start, end = trim(text, best.start, best.end)
        s_start, s_end = holding_sentence(text, start, end)
        span = SpanAnswer(
            passage.number,
            text[start:end],
            start,
            end,
            s_start,
            s_end,
            round(best.margin, 4),
            round(confidence(best.margin, self.center, self.scale), 4),
        )
        return Reading(span, best.margin >= self.threshold)


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` up to its first line break or table-cell border, without spaces, Markdown marks and edge
    punctuation at either end (the span as the reader gave it when trimming would empty it)."""
    cut = _BREAK.search(text, start, end)
    a, b = start, cut.start() if cut and cut.start() > start else end
    while a < b and text[a] in _EDGE:
        a += 1
    while b > a and text[b - 1] in _EDGE_END:
        b -= 1
    return (a, b) if a < b else (start, end)


def holding_sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence (or run of sentences) of ``text`` that holds ``[start, end)``."""
    spans = split_sentences(text)
    first = next((s for s in spans if s[1] > start), None)
    last = next((s for s in reversed(spans) if s[0] < end), None)
    if first is None or last is None:
        return start, end
    return min(first[0], start), max(last[1], end)
