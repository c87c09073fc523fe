"""Shared fixtures of the parser tests: data locations, the section invariants, a tiny PDF writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.parse import ParsedDocument

# The shared corpus lives beside the repository: <root>/../shared/data/documents.
DOCUMENTS = Path(__file__).resolve().parents[3].parent / "shared/data/documents"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures/documents"


@pytest.fixture(scope="session")
def documents() -> Path:
    """The shared real-document corpus; the test is skipped where it is not checked out."""
    if not DOCUMENTS.is_dir():
        pytest.skip(f"shared documents not found at {DOCUMENTS}; lay out ../shared beside the repository to run this")
    return DOCUMENTS


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """Small documents kept in this repository."""
    return FIXTURES


def check_sections(doc: ParsedDocument) -> None:
    """Assert the ``ParsedDocument`` contract on section offsets.

    Sections are in order, do not overlap, index into ``doc.text``, carry no
    leading or trailing whitespace, and what lies between them is whitespace.
    Tables are in order, do not overlap, and each lies within one section.
    """
    assert doc.sections, "a parsed document has at least one section"
    previous_end = 0
    for section in doc.sections:
        assert previous_end <= section.start < section.end <= len(doc.text), section
        span = doc.text[section.start : section.end]
        assert span == span.strip(), f"section {section} has surrounding whitespace"
        assert not doc.text[previous_end : section.start].strip(), f"text before {section} is in no section"
        previous_end = section.end
    assert not doc.text[previous_end:].strip(), "text after the last section is in no section"
    if doc.n_pages is not None:
        pages = [s.page for s in doc.sections]
        assert pages == sorted(pages) and all(1 <= p <= doc.n_pages for p in pages)
    previous_end = 0
    for table in doc.tables:
        assert previous_end <= table.start <= table.header_end <= table.end, table
        span = doc.text[table.start : table.end]
        assert span == span.strip(), f"table {table} has surrounding whitespace"
        assert any(s.start <= table.start and table.end <= s.end for s in doc.sections), f"{table} crosses a section"
        previous_end = table.end


@pytest.fixture
def valid_sections():
    """The section-invariant checker, as a fixture so every test module can use it."""
    return check_sections


def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def build_pdf(pages: list[list[str]]) -> bytes:
    """Write a minimal valid PDF: one Helvetica text line per string, one list per page."""
    objects = {
        1: "<< /Type /Catalog /Pages 2 0 R >>",
        3: "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    kids = []
    for index, lines in enumerate(pages):
        page_id, content_id = 4 + 2 * index, 5 + 2 * index
        kids.append(f"{page_id} 0 R")
        shows = " T* ".join(f"({_pdf_string(line)}) Tj" for line in lines)
        stream = f"BT /F1 12 Tf 14 TL 72 720 Td {shows} ET" if lines else ""
        objects[page_id] = (
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content_id} 0 R >>"
        )
        objects[content_id] = f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream"
    objects[2] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n{objects[number]}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offsets[n]:010d} 00000 n \n" for n in sorted(objects)).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


@pytest.fixture
def make_pdf():
    """``make_pdf([["line", ...], ...]) -> bytes``: a small text PDF, one list of lines per page."""
    return build_pdf
