"""Token-window chunking measured with the embedding model's tokenizer.

Each section of a parsed document is cut into windows of at most
``max_tokens`` tokens that overlap by about ``overlap`` tokens. A window ends
at the last sentence boundary in its second half where there is one (inside a
table, every row starts one), so chunks read as whole sentences; otherwise it
is cut at the token limit. A chunk never crosses a section, so it has one page
(or location: "slide 7", "sheet Revenue"), one heading path and, for text read
by OCR, its page's confidence.

A chunk that starts among the rows of a table (``ParsedDocument.tables``)
after its header gets the header repeated in front of it, so rows are never
embedded or read without their column names; the header's tokens count
towards ``max_tokens``. Whatever the chunk, its text ends with the exact slice
of the document it locates::

    chunk.text[chunk.prefix_chars:] == doc.text[chunk.start:chunk.end]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from core.errors import ConfigError
from ingest.parse.types import ParsedDocument, Section, TableSpan

# A sentence starts after terminal punctuation (optionally closed by quotes or
# brackets) followed by whitespace, after a blank line, or at a new line that
# begins a list item or table row.
_BOUNDARY = re.compile(
    r"(?<=[.!?\u3002\uff01\uff1f\u061f\u06d4])[\"'\u201d\u2019)\]]*\s+"
    r"|\n\s*\n\s*"
    r"|\n(?=\s*(?:[-*+\u2022|]|\d+[.)])\s)"
)
# Inside a table every line starts a boundary, whatever its first character.
_ROW = re.compile(r"\n\s*(?=\S)")


@dataclass(frozen=True)
class Chunk:
    """A passage of a document, located exactly in its extracted text.

    ``text[prefix_chars:] == doc.text[start:end]`` always holds. The first
    ``prefix_chars`` characters, when there are any, are the header rows of
    the table the chunk starts in followed by ``"\\n"``: context repeated from
    earlier in the document, not part of the located span.
    """

    ord: int  # position of the chunk within its document
    text: str  # what is embedded and shown: the repeated table header, if any, then the slice
    start: int  # char offset into ParsedDocument.text
    end: int
    page: int | None
    heading_path: tuple[str, ...]
    n_tokens: int  # tokens of text, the repeated header included
    prefix_chars: int = 0  # length of the repeated table header and its newline; 0 when none
    location: str | None = None  # "slide 7", "sheet Revenue", "chapter 3"; None where ``page`` says it
    ocr_confidence: float | None = None  # 0-100 where the text was read by OCR; None: the file's own text


@dataclass(frozen=True)
class _Header:
    """A table header to repeat, located by token indices into one section's encoding."""

    text: str
    n_tokens: int  # of text and the newline that joins it to the rows
    start: int  # first token of the table
    body: int  # first token after the header rows
    end: int  # one past the last token of the table


def sentence_starts(text: str) -> list[int]:
    """Character offsets where a new sentence or block begins (0 excluded)."""
    return [m.end() for m in _BOUNDARY.finditer(text) if 0 < m.end() < len(text)]


class Chunker:
    """Cut documents into overlapping token windows.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` (the embedding model's), giving offsets.
        max_tokens: window size in tokens (without special tokens).
        overlap: tokens repeated at the start of the next window.
    """

    def __init__(self, tokenizer, max_tokens: int = 200, overlap: int = 40) -> None:
        if max_tokens < 16:
            raise ConfigError(f"max_tokens must be at least 16, got {max_tokens}")
        if not 0 <= overlap < max_tokens // 2:
            raise ConfigError(f"overlap must be in [0, {max_tokens // 2}), got {overlap}")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.overlap = overlap

    def chunk(self, doc: ParsedDocument) -> list[Chunk]:
        """Cut every section of ``doc`` into windows (see the module docstring)."""
        chunks: list[Chunk] = []
        for section in doc.sections:
            for start, end, n_tok, header in self._windows(doc.text, section, doc.tables):
                prefix = "" if header is None else header.text + "\n"
                chunks.append(
                    Chunk(
                        ord=len(chunks),
                        text=prefix + doc.text[start:end],
                        start=start,
                        end=end,
                        page=section.page,
                        heading_path=section.heading_path,
                        n_tokens=n_tok,
                        prefix_chars=len(prefix),
                        location=section.location,
                        ocr_confidence=section.ocr_confidence,
                    )
                )
        return chunks

    def _windows(self, text: str, section: Section, tables: list[TableSpan]):
        """Yield ``(start, end, n_tokens, header)``: char offsets, tokens with the header, header to repeat or None."""
        body = text[section.start : section.end]
        enc = self.tokenizer.encode(body, add_special_tokens=False)
        offsets = np.array([o for o in enc.offsets if o[1] > o[0]], dtype=np.int64).reshape(-1, 2)
        n = offsets.shape[0]
        if n == 0:
            return
        tables = [t for t in tables if section.start <= t.start and t.end <= section.end]
        headers = self._headers(text, section, tables, offsets)
        # Token index at which each sentence (or table row) starts; never inside a header, so windows
        # neither end nor begin there.
        starts = sentence_starts(body) + [
            m.end() - section.start for t in tables for m in _ROW.finditer(text, t.start, t.end)
        ]
        bounds = np.unique(np.searchsorted(offsets[:, 0], starts))
        bounds = bounds[(bounds > 0) & (bounds < n)]
        for h in headers:
            bounds = bounds[(bounds <= h.start) | (bounds >= h.body)]
        s = 0
        while s < n:
            header = next((h for h in headers if h.body <= s < h.end), None)
            budget = self.max_tokens - (header.n_tokens if header else 0)
            e = min(n, s + budget)
            if e < n:
                inside = bounds[(bounds > s + budget // 2) & (bounds <= e)]
                if inside.size:
                    e = int(inside[-1])
            n_tok = e - s + (header.n_tokens if header else 0)
            yield section.start + int(offsets[s, 0]), section.start + int(offsets[e - 1, 1]), n_tok, header
            if e >= n:
                break
            nxt = e - self.overlap
            snap = bounds[(bounds >= nxt) & (bounds < e)]
            nxt = int(snap[0]) if snap.size else nxt
            s = _outside_headers(max(nxt, s + 1), s, headers)

    def _headers(self, text: str, section: Section, tables: list[TableSpan], offsets: np.ndarray) -> list[_Header]:
        """The headers of ``tables`` worth repeating, located in the section's tokens."""
        headers = []
        for table in tables:
            if table.header_end <= table.start:
                continue
            header_text = text[table.start : table.header_end]
            n_tokens = len(self.tokenizer.encode(header_text + "\n", add_special_tokens=False).ids)
            # A header longer than a third of the window would leave too little room for rows (and would
            # mostly repeat itself in every chunk): such a table is chunked like prose.
            if 3 * n_tokens > self.max_tokens:
                continue
            start, body, end = np.searchsorted(
                offsets[:, 0],
                [table.start - section.start, table.header_end - section.start, table.end - section.start],
            )
            headers.append(_Header(header_text, n_tokens, int(start), int(body), int(end)))
        return headers


def _outside_headers(s: int, previous: int, headers: list[_Header]) -> int:
    """Move a window start that falls inside a header to the header's first token, else past the header.

    Starting at the first token keeps the whole header in the chunk; when that
    token is not after the previous window's start, the window starts at the
    first row instead and the header is repeated.
    """
    for h in headers:
        if h.start < s < h.body:
            return h.start if h.start > previous else h.body
    return s
