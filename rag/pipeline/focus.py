"""The passages' sentences ranked by relevance to the question: what the model reads first, and whether to abstain.

A 135M-parameter model answers far better from the few sentences that matter
than from whole passages: it tends to copy the first sentence it reads. On 30
SQuAD 2.0 questions of the tune split (``rag/eval/qa_datasets.py``, gold
paragraph and two distractors), the three best sentences gave token F1 0.17 and
a gold answer in 37% of the answers, where whole paragraphs had given 0.09 and
about 22% on the held-out splits; ``rag eval qa`` compares the modes on held-out
questions (benchmarks/README.md "Answers").

Sentences are scored with the same MaxSim model as the support check (one call
per request over every sentence of the kept passages); the best score is the
request's relevance, which the abstention threshold is compared with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.pipeline.prompt import Passage
from rag.pipeline.sentences import split_sentences
from rag.rerank.base import Reranker

MAX_SENTENCES = 200  # scored per request; passages are at most a few thousand tokens


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of a passage and its relevance to the question.

    Attributes:
        passage: the passage's number in the prompt.
        start, end: character offsets of the sentence in the passage's chunk text.
        text: the sentence.
        score: MaxSim relevance to the question (about -1..1; higher is more relevant).
    """

    passage: int
    start: int
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class Focus:
    sentences: list[ScoredSentence]  # best first

    @property
    def relevance(self) -> float:
        """The best sentence's score; -1 when the passages hold no sentence."""
        return self.sentences[0].score if self.sentences else -1.0

    def top(self, n: int) -> list[ScoredSentence]:
        return self.sentences[:n]


class FocusSentences:
    """Split the passages into sentences and rank them against the question.

    Args:
        model: returns the scoring model, loaded on first use.
    """

    def __init__(self, model: Callable[[], Reranker]) -> None:
        self.model = model

    def __call__(self, question: str, passages: Sequence[Passage]) -> Focus:
        found: list[tuple[int, int, int, str]] = []
        for p in passages:
            text = p.chunk.text
            body = p.chunk.prefix_chars  # a repeated table header is not a sentence of this chunk
            for start, end in split_sentences(text[body:]):
                found.append((p.number, body + start, body + end, text[body + start : body + end]))
        found = found[:MAX_SENTENCES]
        if not found:
            return Focus([])
        scores = self.model().score(question, [f[3] for f in found])
        ranked = sorted(
            (ScoredSentence(n, s, e, t, float(x)) for (n, s, e, t), x in zip(found, scores)),
            key=lambda s: -s.score,
        )
        return Focus(ranked)
