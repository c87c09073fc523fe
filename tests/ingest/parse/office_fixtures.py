"""Helpers of the slide and spreadsheet parser tests: the documents-more corpus, its facts, ZIP surgery, no network."""

from __future__ import annotations

import io
import json
import socket
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ingest.parse import ParsedDocument, Section

MORE = Path(__file__).resolve().parents[3].parent / "shared/data/documents-more"


def facts(suffixes: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """``(file, kind, text)`` of every fact in ``facts.jsonl`` for files ending in one of ``suffixes``."""
    path = MORE / "facts.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(row["file"], row["kind"], row["text"]) for row in rows if row["file"].endswith(suffixes)]


def more_file(name: str) -> bytes:
    """The bytes of a file of the documents-more corpus; the test is skipped where it is not checked out."""
    path = MORE / name
    if not path.is_file():
        pytest.skip(f"{path} not found; lay out ../shared beside the repository to run this")
    return path.read_bytes()


def section_at(doc: ParsedDocument, offset: int) -> Section:
    """The section that holds the character at ``offset``."""
    return next(s for s in doc.sections if s.start <= offset < s.end)


def in_table(doc: ParsedDocument, offset: int) -> bool:
    """Whether ``offset`` lies in one of the document's tables."""
    return any(t.start <= offset < t.end for t in doc.tables)


def rewrite_zip(data: bytes, replace: dict[str, bytes]) -> bytes:
    """A copy of a ZIP archive with the members in ``replace`` replaced or added."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename not in replace:
                target.writestr(info, source.read(info))
        for name, content in replace.items():
            target.writestr(name, content)
    return out.getvalue()


def read_member(data: bytes, name: str) -> bytes:
    """One member of a ZIP archive held in memory."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name)


@contextmanager
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Record (and refuse) every attempt to open a network connection or resolve a name inside the block."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network access during parsing")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts
