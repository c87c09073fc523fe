"""Token-window chunking measured with the embedding model's tokenizer.

Each section of a parsed document is cut into windows of at most
``max_tokens`` tokens that overlap by about ``overlap`` tokens. A window ends
at the last sentence boundary in its second half where there is one, so
chunks read as whole sentences; otherwise it is cut at the token limit. A
chunk never crosses a section, so it has one page and one heading path, and
``text[start:end]`` of the document is exactly the chunk's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from indexes.errors import ConfigError
from ingest.parse.types import ParsedDocument, Section

# A sentence starts after terminal punctuation (optionally closed by quotes or
# brackets) followed by whitespace, after a blank line, or at a new line that
# begins a list item or table row.
_BOUNDARY = re.compile(
    r"(?<=[.!?\u3002\uff01\uff1f\u061f\u06d4])[\"'\u201d\u2019)\]]*\s+"
    r"|\n\s*\n\s*"
    r"|\n(?=\s*(?:[-*+\u2022|]|\d+[.)])\s)"
)


@dataclass(frozen=True)
class Chunk:
    """A passage of a document, located exactly in its extracted text."""

    ord: int  # position of the chunk within its document
    text: str
    start: int  # char offset into ParsedDocument.text
    end: int
    page: int | None
    heading_path: tuple[str, ...]
    n_tokens: int


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
        chunks: list[Chunk] = []
        for section in doc.sections:
            for start, end, n_tok in self._windows(doc.text, section):
                chunks.append(
                    Chunk(
                        ord=len(chunks),
                        text=doc.text[start:end],
                        start=start,
                        end=end,
                        page=section.page,
                        heading_path=section.heading_path,
                        n_tokens=n_tok,
                    )
                )
        return chunks

    def _windows(self, text: str, section: Section):
        body = text[section.start : section.end]
        enc = self.tokenizer.encode(body, add_special_tokens=False)
        offsets = np.array([o for o in enc.offsets if o[1] > o[0]], dtype=np.int64).reshape(-1, 2)
        n = offsets.shape[0]
        if n == 0:
            return
        # Token index at which each sentence starts.
        bounds = np.unique(np.searchsorted(offsets[:, 0], sentence_starts(body)))
        bounds = bounds[(bounds > 0) & (bounds < n)]
        s = 0
        while s < n:
            e = min(n, s + self.max_tokens)
            if e < n:
                inside = bounds[(bounds > s + self.max_tokens // 2) & (bounds <= e)]
                if inside.size:
                    e = int(inside[-1])
            yield section.start + int(offsets[s, 0]), section.start + int(offsets[e - 1, 1]), e - s
            if e >= n:
                break
            nxt = e - self.overlap
            snap = bounds[(bounds >= nxt) & (bounds < e)]
            nxt = int(snap[0]) if snap.size else nxt
            s = max(nxt, s + 1)
