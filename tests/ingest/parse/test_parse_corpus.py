"""Every document of the shared corpus parses, or fails with the error a user should see."""

from __future__ import annotations

import pytest

from ingest.errors import EncryptedDocumentError, MissingToolError, NoTextError, UnsupportedMediaTypeError
from ingest.parse import SUPPORTED_TYPES, ocr, parse_bytes

# Scanned PDFs are read by OCR where Tesseract is installed, and refused naming what to install where not.
_SCAN = 150 if ocr.available() else MissingToolError
_PICTURES = NoTextError if ocr.available() else MissingToolError  # images with no words in them

# path under shared/data/documents -> the error expected, or the least text length expected.
CORPUS: dict[str, type[Exception] | int] = {
    "SOURCE.md": 3000,
    "mozilla_readability/test/test-pages/wikipedia/expected-metadata.json": UnsupportedMediaTypeError,
    "mozilla_readability/test/test-pages/wikipedia/expected.html": 25000,
    "mozilla_readability/test/test-pages/wikipedia/source.html": 25000,
    "py-pdf_sample-files/README.md": 400,
    "py-pdf_sample-files/files.json": UnsupportedMediaTypeError,
    "py-pdf_sample-files/004-pdflatex-4-pages/pdflatex-4-pages.pdf": 14000,
    "py-pdf_sample-files/005-libreoffice-writer-password/README.md": 30,
    "py-pdf_sample-files/005-libreoffice-writer-password/libreoffice-writer-password.pdf": EncryptedDocumentError,
    "py-pdf_sample-files/006-pdflatex-outline/pdflatex-outline.pdf": 7000,
    "py-pdf_sample-files/007-imagemagick-images/imagemagick-images.pdf": _PICTURES,
    "py-pdf_sample-files/011-google-doc-document/google-doc-document.pdf": 1000,
    "py-pdf_sample-files/015-arabic/habibi.pdf": 15,
    "py-pdf_sample-files/026-latex-multicolumn/multicolumn.pdf": 6500,
    "unstructured/README.md": 20000,
    "unstructured/example-docs/codeblock.md": 500,
    "unstructured/example-docs/example-10k-1p.html": 3500,
    "unstructured/example-docs/language-docs/eng_spa_mult.md": 3000,
    "unstructured/example-docs/pdf/korean-text-with-tables.pdf": 1000,
    "unstructured/example-docs/pdf/layout-parser-paper-fast.pdf": 5000,
    "unstructured/example-docs/pdf/single_table.pdf": _SCAN,
    "unstructured/example-docs/simple-table.md": 80,
    "xquad/README.md": 7000,
}


def test_corpus_table_lists_every_file(documents):
    present = {str(p.relative_to(documents)) for p in documents.rglob("*") if p.is_file()}
    assert present == set(CORPUS), "classify new corpus files in CORPUS"


@pytest.mark.parametrize("relative", sorted(CORPUS))
def test_corpus_document(documents, valid_sections, relative):
    path = documents / relative
    expected = CORPUS[relative]
    if isinstance(expected, type):
        with pytest.raises(expected) as info:
            parse_bytes(path.read_bytes(), path.name)
        assert path.name in str(info.value) or path.suffix in str(info.value)
        return
    doc = parse_bytes(path.read_bytes(), path.name)
    valid_sections(doc)
    assert doc.media_type == SUPPORTED_TYPES[path.suffix]
    assert len(doc.text) >= expected
    assert parse_bytes(path.read_bytes(), path.name) == doc  # deterministic
