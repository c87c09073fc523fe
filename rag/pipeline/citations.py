"""Citations: turn the model's [n] markers into references to exact passages.

Only passages that were in the prompt can be cited; markers pointing to any
other number are removed (:func:`clean_markers`). Whether each sentence's marker
is right, and which passage a sentence without one should cite, is decided by
the support check (:mod:`rag.pipeline.support`); :func:`citation_of` then turns
a passage number into a citation that says how it was set.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.pipeline.prompt import Passage

if TYPE_CHECKING:  # support imports this module's markers
    from rag.pipeline.support import SentenceSupport

# One bracketed marker, the spaces before it, and spaces between it and the
# punctuation that ends its clause ("Paris [1] ." -> "Paris [1]."); not spaces
# before a dot that starts a token ("see [1] .env").
MARKER = re.compile(r"[ \t]*\[(\d+(?:\s*[,;]\s*\d+)*)\](?:[ \t]+(?=[.,;:!?…]+[\"'”’»)\]}]*(?:\s|$)))?")
# Markdown code: brackets in it are indexing (``a[1]``), not markers.
_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
_CLOSING = ".,;:!?…\"'”’»)]}"


# What a citation's ``how`` (and a sentence's support ``how``) can say; see Citation.how. The API lists them
# at /v1/meta for the page.
CITATION_KINDS = ("reader", "marker", "corrected", "support", "unsupported", "attended", "none")


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
    # cited another passage; "support": added for a sentence the passage supports; "unsupported":
    # the model cited it but no passage supports the sentence; "attended": context "retro", the
    # model's cross-attention read the passage (rag.pipeline.retro); "reader": the reader's span is in it
    how: str
    # mode "reader": the span's characters in the document (None where the span lies in a repeated table
    # header, which the document holds elsewhere), and the sentence that holds it, with the span's place in it
    span_start: int | None = None
    span_end: int | None = None
    quote: str | None = None
    quote_span_start: int | None = None
    quote_span_end: int | None = None
    location: str | None = None  # "slide 7", "sheet Revenue", "chapter 3" in a file without pages
    ocr: bool = False  # the passage's text was read by OCR from a scan or an image
    ocr_confidence: float | None = None  # Tesseract's mean word confidence (0-100) for its page, when ``ocr``


def marker_numbers(match: re.Match[str]) -> list[int]:
    """The passage numbers one ``MARKER`` match cites, as written ("[2, 3]" -> [2, 3])."""
    return [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1))]


def clean_markers(answer: str, valid: set[int]) -> tuple[str, list[int]]:
    """Drop markers that cite no given passage; keep the others as ``" [n]"``.

    Only markers and the spaces next to them change: a marker removed between
    two words leaves one space ("x[7]y" becomes "x y"), and text outside markers
    (".env", "3 : 2", code such as ``a[1]``) stays as written.
    """
    cited: list[int] = []
    code = [m.span() for m in _CODE.finditer(answer)]
    out, last, prev = [], 0, ""  # prev: the last character written so far
    for match in MARKER.finditer(answer):
        if any(start <= match.start() < end for start, end in code):
            continue
        out.append(answer[last : match.start()])
        prev = out[-1][-1:] or prev
        last = match.end()
        keep = [n for n in marker_numbers(match) if n in valid]
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


def citation_of(passage: Passage, how: str, span=None) -> Citation:
    """The citation of ``passage``; with ``span`` (a :class:`rag.pipeline.reading.SpanAnswer`), its exact range."""
    chunk = passage.chunk
    extra = {}
    if span is not None:
        own = span.start >= chunk.prefix_chars  # the document's own characters start after a repeated header
        extra = {
            "span_start": chunk.char_start + span.start - chunk.prefix_chars if own else None,
            "span_end": chunk.char_start + span.end - chunk.prefix_chars if own else None,
            "quote": chunk.text[span.sentence_start : span.sentence_end],
            "quote_span_start": span.start - span.sentence_start,
            "quote_span_end": span.end - span.sentence_start,
        }
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
        location=chunk.location,
        ocr=chunk.ocr_confidence is not None,
        ocr_confidence=chunk.ocr_confidence,
        **extra,
    )


def cite_sentences(sentences: Sequence[SentenceSupport], passages: Sequence[Passage]) -> list[Citation]:
    """A citation per cited passage, in order of first citation, marked as that first sentence is supported."""
    by_number = {p.number: p for p in passages}
    how: dict[int, str] = {}
    for sentence in sentences:
        for n in sentence.cited:
            how.setdefault(n, "unsupported" if sentence.how == "none" else sentence.how)
    return [citation_of(by_number[n], how[n]) for n in how if n in by_number]
