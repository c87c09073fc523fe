"""Checked citations: is each answer sentence supported by the passage it cites?

After generation, every sentence of the answer is scored against every passage
in the prompt by two kinds of evidence:

* **model support**: MaxSim of the sentence's tokens over the passage's tokens
  (:class:`rag.rerank.maxsim.MaxSimReranker`: for each sentence token the best
  cosine any passage token reaches, averaged). A sentence whose every content
  word and phrase has a close counterpart in the passage scores near 1; a
  sentence about something else scores near the floor of unrelated text.
* **quote evidence**: the longest run of the sentence's words that occurs word
  for word in the passage, as a share of the sentence's words.

A sentence is supported by a passage when the model score reaches
``threshold`` (calibrated on SciFact *train* claims by
``benchmarks/calibrate_support.py``) or when at least ``QUOTE_SHARE`` of it, and
``QUOTE_WORDS`` words or more, is a quote; and in either case only when every
number of the sentence occurs in the passage, compared as values (:mod:`rag.pipeline.numbers`:
token similarity barely changes when a number does, so "20 days" would otherwise pass for
"45 days"), and every checkable term of it (an option, code, an identifier, a path or a URL;
a name may be in another of the answer's passages: :mod:`rag.pipeline.terms`; "use the `-b`
flag" passed for Vite's ``server.port`` passage, which has no ``-b``), and unless it copies a sentence of
the passage with content words swapped in (:mod:`rag.pipeline.substitution`). Its best passage is the
supporting passage with the highest score (the cited one on a tie). Markers are then checked:
a sentence that cites a passage which does not support it, while another does, is re-cited
to that one ("corrected"); a sentence without a marker gets the passage that supports it
("support"); an unsupported sentence keeps the
markers the model wrote, and is marked ``supported: false`` with the reason: a number
that no passage holds (``"number not in sources"``: the model computed or made it up), a
term that no passage holds (``"term not in sources: -b"``), the words swapped into a copied passage
sentence (``"changed words: vikings"``), no passage that supports it, or
no passages at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.pipeline.citations import MARKER, marker_numbers
from rag.pipeline.numbers import NUMBER_NOT_IN_SOURCES, missing_numbers, numbers_in
from rag.pipeline.prompt import Passage
from rag.pipeline.sentences import marker_position, split_sentences
from rag.pipeline.substitution import changed_reason, changed_words
from rag.pipeline.terms import TERM_NOT_IN_SOURCES, PassageTerms, agreement, missing_terms
from rag.rerank.base import Reranker

# SciFact train claims against the abstracts they cite (benchmarks/calibrate_support.py):
# the score that best separates abstracts whose sentences support a claim from cited
# abstracts that hold no evidence for it: balanced accuracy 0.797, ROC AUC 0.869 over
# 368 supporting and 329 NOINFO pairs (benchmarks/results/support-calibration.json).
SUPPORT_THRESHOLD = 0.632
QUOTE_SHARE = 0.6  # share of a sentence's words copied word for word from one passage
QUOTE_WORDS = 4  # ... and at least this many words: "in 1889" alone proves nothing
SUPPORT_MODEL = "maxsim"
NO_SUPPORTING_PASSAGE = "no passage supports it"
NO_PASSAGES = "no passages"

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class SentenceSupport:
    """One sentence of the final answer and the evidence for it.

    Attributes:
        start, end: character offsets of the sentence (its markers included) in the answer.
        text: the sentence without its markers.
        supported: some passage supports it (see the module docstring).
        score: the model's support score for ``passage`` (MaxSim, about -1..1).
        quote: share of the sentence's words that ``passage`` holds word for word.
        passage: number of the passage that supports it best (the best-scoring one
            when none supports it); None when there were no passages.
        cited: the passage numbers its markers cite, after correction.
        how: "marker" (the model's marker was right), "corrected" (the model cited
            another passage), "support" (no marker: the supporting passage was
            added), "reader" (the sentence states the reader's span from the passage
            it cites: supported by construction), "none" (unsupported, markers left as written).
        reason: why an unsupported sentence is unsupported: "number not in sources",
            "term not in sources: <the term>", "no passage supports it" or "no passages";
            None when it is supported.
    """

    start: int
    end: int
    text: str
    supported: bool
    score: float
    quote: float
    passage: int | None
    cited: tuple[int, ...]
    how: str
    reason: str | None = None


@dataclass(frozen=True)
class CheckedAnswer:
    text: str  # the answer with its markers corrected
    sentences: list[SentenceSupport]

    @property
    def supported(self) -> int:
        return sum(s.supported for s in self.sentences)


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def quote_share(sentence: str, passage: str) -> float:
    """Longest run of ``sentence``'s words found contiguously in ``passage``, over the sentence's word count.

    Runs shorter than ``QUOTE_WORDS`` count as 0 (unless the sentence is that short and wholly quoted).
    """
    s, p = words(sentence), words(passage)
    if not s or not p:
        return 0.0
    # longest common substring over word sequences (dynamic programming, O(|s| |p|), both short)
    best, prev = 0, [0] * (len(p) + 1)
    for a in s:
        cur = [0] * (len(p) + 1)
        for j, b in enumerate(p, start=1):
            if a == b:
                cur[j] = prev[j - 1] + 1
                if cur[j] > best:
                    best = cur[j]
        prev = cur
    if best < min(QUOTE_WORDS, len(s)):
        return 0.0
    return best / len(s)


def strip_markers(sentence: str) -> tuple[str, list[int]]:
    """The sentence without its ``[n]`` markers, and the numbers they cite in order."""
    numbers = [n for match in MARKER.finditer(sentence) for n in marker_numbers(match)]
    return MARKER.sub("", sentence).strip(), list(dict.fromkeys(numbers))


class SupportChecker:
    """Score every sentence of an answer against every passage and correct its markers.

    Args:
        model: returns the scoring model (a :class:`Reranker`; MaxSim by default), loaded on first use.
        threshold: model score from which a passage supports a sentence.
    """

    def __init__(self, model: Callable[[], Reranker], threshold: float = SUPPORT_THRESHOLD) -> None:
        self.model = model
        self.threshold = threshold

    def scores(
        self, sentence: str, passages: Sequence[Passage], held: Sequence[frozenset[str]] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Model scores, quote shares and number agreement (len(passages),) of one sentence against each passage.

        ``held``: each passage's :func:`numbers_in`, when the caller has them (an answer's are read once).
        """
        texts = [p.chunk.text for p in passages]
        model = self.model().score(sentence, texts).astype(np.float32)
        quotes = np.array([quote_share(sentence, t) for t in texts], dtype=np.float32)
        wanted = numbers_in(sentence)
        held = held if held is not None else [numbers_in(t) for t in texts]
        numbers = np.array([wanted <= h for h in held], dtype=bool)
        return model, quotes, numbers

    def supports(
        self, score: float, quote: float, numbers: bool = True, terms: bool = True, changed: bool = False
    ) -> bool:
        """Whether a passage supports a sentence, from its :meth:`scores`, :meth:`terms` and ``changed`` (it copies
        a sentence of the passage with words swapped in: :func:`rag.pipeline.substitution.changed_words`)."""
        return numbers and terms and not changed and (score >= self.threshold or quote >= QUOTE_SHARE)

    @staticmethod
    def terms(sentence: str, passages: Sequence[PassageTerms]) -> np.ndarray:
        """bool (len(passages),): whether each passage (read by :meth:`PassageTerms.of`) holds the terms of
        ``sentence``: its options, code, identifiers, paths and URLs, and its names in it or another passage
        (:func:`rag.pipeline.terms.agreement`)."""
        return np.array(agreement(sentence, passages), dtype=bool)

    def __call__(self, answer: str, passages: Sequence[Passage]) -> CheckedAnswer:
        """Check each sentence of ``answer`` against ``passages``; the answer with its markers corrected."""
        sources = _Sources.of(passages)
        pieces, checked, last = [], [], 0
        for start, end in split_sentences(answer):
            text, cited = strip_markers(answer[start:end])
            if not words(text):  # a stray marker or punctuation: nothing to check
                continue
            if not passages:
                checked.append(
                    SentenceSupport(start, end, text, False, 0.0, 0.0, None, tuple(cited), "none", NO_PASSAGES)
                )
                continue
            offset = sum(len(p) for p in pieces) + len(answer[last:start])
            sentence, support = self._check(text, cited, offset, sources)
            pieces += [answer[last:start], sentence]
            last = end
            checked.append(support)
        pieces.append(answer[last:])
        return CheckedAnswer("".join(pieces), checked)

    def _check(self, text: str, cited: list[int], offset: int, sources: _Sources) -> tuple[str, SentenceSupport]:
        """One sentence (``text``, citing ``cited``, at ``offset`` of the corrected answer) against every passage:
        the sentence with its corrected markers, and its support."""
        passages, numbers = sources.passages, sources.numbers
        model, quotes, agree = self.scores(text, passages, sources.held)
        terms = self.terms(text, sources.read)
        changed = [changed_words(text, p.chunk.text) for p in passages]
        ok = [
            self.supports(float(m), float(q), bool(a), bool(t), bool(c))
            for m, q, a, t, c in zip(model, quotes, agree, terms, changed)
        ]
        # rank: supporting passages first, then the model score, then quotes; a cited one wins ties
        rank = sorted(
            range(len(passages)),
            key=lambda i: (ok[i], round(float(model[i]), 4), float(quotes[i]), numbers[i] in cited),
            reverse=True,
        )
        best = rank[0]
        supported = ok[best]
        cited_ok = [n for n in cited if n in numbers and ok[numbers.index(n)]]
        new, how = _corrected(cited, cited_ok, supported, numbers[best])
        at = numbers.index(cited_ok[0]) if how == "marker" else best
        sentence = _with_markers(text, new)
        reason = None if supported else unsupported_reason(text, sources.held, sources.read, changed[best])
        support = SentenceSupport(
            offset, offset + len(sentence), text, supported, float(model[at]), float(quotes[at]), numbers[at],
            tuple(new), how, reason,
        )  # fmt: skip
        return sentence, support


@dataclass(frozen=True)
class _Sources:
    """The passages of one answer, each read once: its number, the numbers it holds, its terms."""

    passages: Sequence[Passage]
    numbers: list[int]
    held: list[frozenset[str]]
    read: list[PassageTerms]

    @classmethod
    def of(cls, passages: Sequence[Passage]) -> _Sources:
        texts = [p.chunk.text for p in passages]
        return cls(
            passages, [p.number for p in passages], [numbers_in(t) for t in texts], [PassageTerms.of(t) for t in texts]
        )


def _corrected(cited: list[int], cited_ok: list[int], supported: bool, best: int) -> tuple[list[int], str]:
    """The markers a sentence keeps (``cited_ok``: those of its ``cited`` that support it) or gets (``best``,
    the passage that supports it best), and how (:attr:`SentenceSupport.how`)."""
    if not supported:
        return cited, "none"
    if cited_ok:
        return cited_ok, "marker"
    if cited:
        return [best], "corrected"
    return [best], "support"


def reader_sentence(span, answer: str) -> SentenceSupport:
    """The sentence ``answer`` that states the reader's ``span`` (a :class:`rag.pipeline.reading.SpanAnswer`)
    and cites its passage: supported by construction, scored with the reader's confidence."""
    return SentenceSupport(
        0, len(answer), span.text, True, span.confidence, 1.0, span.passage, (span.passage,), "reader"
    )


def unsupported_reason(
    sentence: str,
    held: Sequence[frozenset[str]],
    read: Sequence[PassageTerms] | None = None,
    changed: tuple[str, ...] = (),
) -> str:
    """Why no passage supports ``sentence``: a number that none of them holds (``held``: each passage's numbers),
    a term that none of them holds (``read``: each passage's :class:`PassageTerms`, when given; the first such
    term is named), the words it swapped into the sentence of its best passage that it copies (``changed``), or
    none that supports it."""
    if missing_numbers(sentence, held):
        return NUMBER_NOT_IN_SOURCES
    if read is not None and (missing := missing_terms(sentence, read)):
        return f"{TERM_NOT_IN_SOURCES}: {missing[0].text}"
    if changed:
        return changed_reason(changed)
    return NO_SUPPORTING_PASSAGE


def _with_markers(sentence: str, numbers: Sequence[int]) -> str:
    """``sentence`` with ``" [n]"`` markers placed before its final punctuation."""
    if not numbers:
        return sentence
    at = marker_position(sentence)
    return sentence[:at] + " " + "".join(f"[{n}]" for n in numbers) + sentence[at:]
