"""Extractive answers: the span of the best sentences that the model finds likeliest as the whole reply.

Candidates are the word-aligned spans of the best ``EXTRACT_SENTENCES`` sentences
that hold no word of the question and neither start nor end with a function
word, of at most ``MAX_SPAN_WORDS`` words: an answer to "Who patented the steam
engine?" names something the question does not ("James Watt"). The model then
scores each candidate as its complete reply (log-probability of the span and of
stopping after it, :meth:`rag.generate.torch_backend.TorchGenerator.score_replies`);
spans that start at the same word share one pass. The likeliest span is the
answer, cited to its sentence's passage.

Measured during development on 30 SQuAD 2.0 questions of the tune split
(``rag/eval/qa_datasets.py``, gold paragraph plus two distractors; never the
report half): this scoring gave exact match 0.27 and token F1 0.32, where letting
the model copy a span by constrained greedy decoding (a suffix automaton over the
sentences) gave EM 0.00 and F1 0.18: it starts copying at a sentence's first word.
Length-normalised scores (mean per token) did worse (EM 0.10), as did a bonus per
token (EM 0.20). ``rag eval qa`` reports the held-out figures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.generate.base import ChatMessage
from rag.pipeline.focus import ScoredSentence

EXTRACT_SENTENCES = 2
MAX_SPAN_WORDS = 8
_TOKEN = re.compile(r"\S+")
_EDGE = ",;:.()\"'“”‘’!?[]"
FUNCTION_WORDS = frozenset(
    "the a an and or but of to in on at for from by with as is are was were be been being it its this that "
    "these those which who whom what when where why how not no do does did has have had can could would "
    "should will may might must about into than then there their they them he she his her we our you your i".split()
)


def _norm(word: str) -> str:
    return re.sub(r"\W+", "", word.lower())


@dataclass(frozen=True)
class Span:
    passage: int
    text: str
    score: float


def candidate_runs(question: str, sentence: str) -> list[tuple[list[tuple[int, int]], list[int]]]:
    """Runs of words to score: per starting word, the words after it (their character spans) and where spans may end.

    Returns:
        (word spans, ends) per starting word: ``ends`` are the numbers of words (1..) after
        which a candidate may stop (not after a function word or a bare punctuation mark).
    """
    asked = {_norm(w) for w in question.split()} - {""}
    words = [(m.start(), m.end()) for m in _TOKEN.finditer(sentence)]
    segments, current = [], []
    for start, end in words:
        if _norm(sentence[start:end]) in asked:
            if current:
                segments.append(current)
            current = []
        else:
            current.append((start, end))
    if current:
        segments.append(current)
    runs = []
    for segment in segments:
        for i in range(len(segment)):
            first = _norm(sentence[segment[i][0] : segment[i][1]])
            if not first or first in FUNCTION_WORDS:
                continue
            run = segment[i : i + MAX_SPAN_WORDS]
            ends = [n for n in range(1, len(run) + 1) if _ends(sentence, run[n - 1])]
            if ends:
                runs.append((run, ends))
    return runs


def _ends(sentence: str, word: tuple[int, int]) -> bool:
    last = _norm(sentence[word[0] : word[1]])
    return bool(last) and last not in FUNCTION_WORDS


def best_span(generator, messages: Sequence[ChatMessage], question: str, top: Sequence[ScoredSentence]) -> Span | None:
    """The likeliest candidate span of ``top`` as the model's whole reply, or None when there is no candidate."""
    runs, owners = [], []
    encoded: dict[str, list[int]] = {}  # a word is in up to MAX_SPAN_WORDS runs: encode it once

    def encode(piece: str) -> list[int]:
        if piece not in encoded:
            encoded[piece] = generator.tokenizer.encode(piece, add_bos=False)
        return encoded[piece]

    for sentence in top[:EXTRACT_SENTENCES]:
        for words, ends in candidate_runs(question, sentence.text):
            pieces = [sentence.text[a:b] for a, b in words]
            # word by word, so each prefix's tokens are those of the shorter span (pre-tokenised at spaces)
            tokens, bounds = [], []
            for n, piece in enumerate(pieces):
                tokens += encode(piece if n == 0 else " " + piece)
                bounds.append(len(tokens))
            runs.append((tokens, [bounds[e - 1] for e in ends]))
            owners.append((sentence, words, ends))
    if not runs:
        return None
    scores = generator.score_replies(messages, runs)
    best, at = None, None
    for (sentence, words, ends), run_scores in zip(owners, scores):
        for e, score in zip(ends, run_scores):
            if best is None or score > best:
                best, at = score, (sentence, words[0][0], words[e - 1][1])
    sentence, start, end = at
    return Span(sentence.passage, sentence.text[start:end].strip(_EDGE) or sentence.text[start:end], float(best))
