"""Writing a word-processing document's blocks under its heading outline, list items gathered into one block.

The Word (``docx``) and OpenDocument (``odt``) writers walk different XML but
write it the same way: a heading of ``level`` closes the open headings of that
level or deeper and is written as a Markdown ``#`` line; every block lies under
the titles of the headings that enclose it; consecutive list items make one
block; a table is a pipe table whose first row is its header. ``OutlineWriter``
holds that part, the writers subclass it for their XML.
"""

from __future__ import annotations

from .builder import TextBuilder


class OutlineWriter:
    """Blocks, headings, list items and tables written into a ``TextBuilder`` under the heading outline.

    Attributes:
        builder: where the text goes; ``builder.build()`` gives the text, sections and tables.
        list_items: list item lines gathered so far, written as one block by ``flush_list``.
    """

    def __init__(self) -> None:
        self.builder = TextBuilder()
        self.list_items: list[str] = []
        self._path: list[tuple[int, str]] = []  # (level, title) of the enclosing headings

    def heading_path(self) -> tuple[str, ...]:
        """The titles of the open headings, outermost first."""
        return tuple(title for _, title in self._path)

    def heading(self, level: int, title: str) -> None:
        """Close the open headings of ``level`` or deeper, open this one and write it as a ``#`` line."""
        self.flush_list()
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, title))
        self.emit("#" * min(level, 6) + " " + title)

    def emit(self, block: str) -> tuple[int, int] | None:
        """Write the gathered list items, then ``block`` (see ``TextBuilder.add``)."""
        self.flush_list()
        return self.builder.add(block, heading_path=self.heading_path())

    def emit_table(self, rows: list[list[str]]) -> None:
        """Write the gathered list items, then ``rows`` as a pipe table headed by the first (non-empty ``rows``)."""
        self.flush_list()
        self.builder.add_table(rows[0], rows[1:], heading_path=self.heading_path())

    def flush_list(self) -> None:
        """Write the gathered list items as one block, one item a line."""
        if self.list_items:
            items, self.list_items = self.list_items, []
            self.builder.add("\n".join(items), heading_path=self.heading_path())
