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
from rag.pipeline.sentences import marker_position, split_sentences

# One bracketed marker, the spaces before it, and spaces between it and the
# punctuation that ends its clause ("Paris [1] ." -> "Paris [1]."); not spaces
# before a dot that starts a token ("see [1] .env").
_MARKER = re.compile(r"[ \t]*\[(\d+(?:\s*[,;]\s*\d+)*)\](?:[ \t]+(?=[.,;:!?…]+[\"'”’»)\]}]*(?:\s|$)))?")
# Markdown code: brackets in it are indexing (``a[1]``), not markers.
_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
_CLOSING = ".,;:!?…\"'”’»)]}"
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
    # "marker": the model cited it and the passage supports the sentence; "corrected": the model
    # cited another passage; "support": added for a sentence the passage supports; "overlap":
    # attributed by shared content words (when no support check runs); "unsupported": the
    # model cited it but no passage supports the sentence
    how: str


def content_words(text: str) -> set[str]:
    return {w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if len(w) > 2 and w not in _STOP} | {
        m.group(0) for m in _WORD.finditer(text) if m.group(0).isdigit()
    }


def clean_markers(answer: str, valid: set[int]) -> tuple[str, list[int]]:
    """Drop markers that cite no given passage; keep the others as ``" [n]"``.

    Only markers and the spaces next to them change: a marker removed between
    two words leaves one space ("x[7]y" becomes "x y"), and text outside markers
    (".env", "3 : 2", code such as ``a[1]``) stays as written.
    """
    cited: list[int] = []
    code = [m.span() for m in _CODE.finditer(answer)]
    out, last, prev = [], 0, ""  # prev: the last character written so far
    for match in _MARKER.finditer(answer):
        if any(start <= match.start() < end for start, end in code):
            continue
        out.append(answer[last : match.start()])
        prev = out[-1][-1:] or prev
        last = match.end()
        nums = [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1))]
        keep = [n for n in nums if n in valid]
        cited += [n for n in dict.fromkeys(keep) if n not in cited]
        after = answer[last : last + 1]
        if keep:
            space = " " if prev and not prev.isspace() else ""
            out.append(space + "".join(f"[{n}]" for n in keep) + (" " if after.isalnum() else ""))
            prev = out[-1][-1]
        elif prev and not prev.isspace() and after and not after.isspace() and after not in _CLOSING:
            out.append(" ")  # "x[7]y": keep the two words apart
            prev = " "
        elif prev in ("", "\n"):
            last += len(answer[last:]) - len(answer[last:].lstrip(" \t"))  # leave no indent behind
    out.append(answer[last:])
    return "".join(out).strip(), cited


def citation_of(passage: Passage, how: str) -> Citation:
    chunk = passage.chunk
    return Citation(
        number=passage.number,
        document_id=chunk.document_id,
        filename=chunk.filename,
        page=chunk.page,
        char_start=chunk.char_start,
        char_end=chunk.char_end,
        text=chunk.text,
        score=chunk.score,
        how=how,
    )


class Citer:
    def __init__(self, min_support: float = 0.5) -> None:
        self.min_support = min_support

    def __call__(self, answer: str, passages: Sequence[Passage]) -> tuple[str, list[Citation]]:
        by_number = {p.number: p for p in passages}
        text, cited = clean_markers(answer, set(by_number))
        how = {n: "marker" for n in cited}
        if not cited and passages:
            text, inferred = self._attribute(text, passages)
            for n in inferred:
                how.setdefault(n, "overlap")
                if n not in cited:
                    cited.append(n)
        return text, [citation_of(by_number[n], how[n]) for n in cited]

    def _attribute(self, text: str, passages: Sequence[Passage]) -> tuple[str, list[int]]:
        """Add ``" [n]"`` before the final punctuation of each sentence that passage n supports."""
        words = [(p.number, content_words(p.chunk.text)) for p in passages]
        pieces, numbers, last = [], [], 0
        for start, end in split_sentences(text):
            sentence_words = content_words(text[start:end])
            if not sentence_words:
                continue
            best, support = max(
                ((n, len(sentence_words & w) / len(sentence_words)) for n, w in words), key=lambda t: t[1]
            )
            if support >= self.min_support:
                at = start + marker_position(text[start:end])
                pieces += [text[last:at], f" [{best}]"]
                last = at
                if best not in numbers:
                    numbers.append(best)
        pieces.append(text[last:])
        return "".join(pieces), numbers
