"""Citations: turn the model's [n] markers into references to exact passages.

Only passages that were in the prompt can be cited; markers pointing to any
other number are removed. A sentence the model left without a marker is
attributed to the passage that shares most of its content words, when that
share is high enough (``min_support``); such citations say so in ``how``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.pipeline.prompt import Passage

_MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")
_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    "the a an and or of to in on at for from by with as is are was were be been being it its this that these "
    "those which who whom what when where why how not no yes do does did has have had can could would should "
    "will may might must about into than then there their they them he she his her we our you your i".split()
)


@dataclass(frozen=True)
class Citation:
    number: int  # the passage number used in the prompt and the answer
    document_id: int
    filename: str
    page: int | None
    char_start: int
    char_end: int
    text: str
    score: float
    how: str  # "marker": the model cited it; "overlap": attributed by shared content words


def content_words(text: str) -> set[str]:
    return {w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if len(w) > 2 and w not in _STOP} | {
        m.group(0) for m in _WORD.finditer(text) if m.group(0).isdigit()
    }


def _clean_markers(answer: str, valid: set[int]) -> tuple[str, list[int]]:
    cited: list[int] = []

    def repl(match: re.Match[str]) -> str:
        nums = [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1))]
        keep = [n for n in nums if n in valid]
        for n in keep:
            if n not in cited:
                cited.append(n)
        return " " + "".join(f"[{n}]" for n in keep) if keep else ""

    text = _MARKER.sub(repl, answer)
    text = re.sub(r" +([.,;:!?])", r"\1", text)
    return text.strip(), cited


class Citer:
    def __init__(self, min_support: float = 0.5) -> None:
        self.min_support = min_support

    def __call__(self, answer: str, passages: Sequence[Passage]) -> tuple[str, list[Citation]]:
        by_number = {p.number: p for p in passages}
        text, cited = _clean_markers(answer, set(by_number))
        how = {n: "marker" for n in cited}
        if not cited and passages:
            text, inferred = self._attribute(text, passages)
            for n in inferred:
                how.setdefault(n, "overlap")
                if n not in cited:
                    cited.append(n)
        citations = []
        for n in cited:
            chunk = by_number[n].chunk
            citations.append(
                Citation(
                    number=n,
                    document_id=chunk.document_id,
                    filename=chunk.filename,
                    page=chunk.page,
                    char_start=chunk.char_start,
                    char_end=chunk.char_end,
                    text=chunk.text,
                    score=chunk.score,
                    how=how[n],
                )
            )
        return text, citations

    def _attribute(self, text: str, passages: Sequence[Passage]) -> tuple[str, list[int]]:
        words = [(p.number, content_words(p.chunk.text)) for p in passages]
        pieces, numbers, last = [], [], 0
        for match in _SENTENCE.finditer(text):
            sentence_words = content_words(match.group(0))
            if not sentence_words:
                continue
            best, support = max(
                ((n, len(sentence_words & w) / len(sentence_words)) for n, w in words), key=lambda t: t[1]
            )
            if support >= self.min_support:
                pieces.append(text[last : match.end()].rstrip())
                end_punct = re.search(r"[.!?]+$", pieces[-1])
                marker = f" [{best}]"
                if end_punct:
                    pieces[-1] = pieces[-1][: end_punct.start()] + marker + end_punct.group(0)
                else:
                    pieces[-1] += marker
                last = match.end()
                if best not in numbers:
                    numbers.append(best)
        pieces.append(text[last:])
        return "".join(pieces).strip(), numbers
