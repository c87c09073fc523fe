"""What the RTF reader finds, rendered: paragraphs with headings, pipe tables, footnotes after the body."""

from __future__ import annotations

from ..builder import TextBuilder
from ..common import clip_heading, collapse_spaces
from ..types import TableSpan


class Output:
    """Paragraphs, table rows and footnotes as the reader finds them, rendered into text and sections."""

    def __init__(self) -> None:
        self.blocks: list[tuple[int | None, str]] = []  # (heading level or None, text); level -1: a table
        self.tables: list[list[list[str]]] = []
        self.footnotes: list[list[str]] = []
        self.title = ""
        self.level: int | None = None
        self.in_table = False
        self._chars: list[str] = []
        self._cell: list[str] = []
        self._row: list[str] = []
        self._rows: list[list[str]] = []

    def write(self, text: str, sink: str) -> None:
        if sink == "body":
            self._chars.append(text)
        elif sink == "title":
            self.title = clip_heading(" ".join((self.title + text).split()))
        elif sink == "footnote" and self.footnotes:
            self.footnotes[-1].append(text)

    def start_footnote(self) -> None:
        self.footnotes.append([])
        self._chars.append(f"[{len(self.footnotes)}]")

    def structure(self, word: str, sink: str) -> None:
        if sink == "footnote" and self.footnotes:
            self.footnotes[-1].append("\n")
        elif sink != "body":
            return
        elif word == "cell":
            self._row.append(" ".join(("".join(self._cell) + "".join(self._chars)).split()))
            self._cell, self._chars = [], []
        elif word == "row":
            self._rows.append(self._row)
            self._row = []
        elif self.in_table:  # a paragraph break inside a cell
            self._cell.extend([*self._chars, " "])
            self._chars = []
        else:
            self.end_paragraph()

    def end_paragraph(self) -> None:
        if self._rows:
            self.tables.append(self._rows)
            self.blocks.append((-1, ""))
            self._rows = []
        text = collapse_spaces("".join(self._chars).replace("\t", " ")).strip()
        self._chars = []
        if text:
            self.blocks.append((self.level, text))

    def render(self) -> tuple[str, list, list[TableSpan]]:
        builder, path = TextBuilder(), []
        tables = iter(self.tables)
        notes = [f"[{n}] " + " ".join("".join(parts).split()) for n, parts in enumerate(self.footnotes, start=1)]
        blocks = self.blocks + ([(1, "Footnotes")] + [(None, note) for note in notes] if notes else [])
        for level, text in blocks:
            if level == -1:
                rows = next(tables)
                builder.add_table(rows[0], rows[1:], heading_path=tuple(t for _, t in path))
                continue
            if level is not None:
                title = " ".join(text.split())
                path = [(lv, t) for lv, t in path if lv < level] + [(level, title)]
                text = "#" * min(level, 6) + " " + title
            builder.add(text, heading_path=tuple(t for _, t in path))
        return builder.build()
