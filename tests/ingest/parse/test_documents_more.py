"""Every file of the documents-more corpus parses and holds the facts ``facts.jsonl`` lists for it.

Facts of kind text, title, table_cell and subject must occur verbatim in the
parsed text once runs of whitespace are collapsed (a table cell inside a
pipe-table cell). Facts of kind ``ocr`` come from Tesseract and may differ by
a few characters: the best window of the text must have a normalised
Levenshtein similarity of at least ``OCR_SIMILARITY`` (0.9: two wrong
characters in a 20-character fact); those need Debian's tesseract-ocr.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from ingest.errors import EncryptedDocumentError, WrongPasswordError
from ingest.parse import ParsedDocument, parse_bytes

MORE = Path(__file__).resolve().parents[3].parent / "shared/data/documents-more"
OCR_SIMILARITY = 0.9
PASSWORDS = {"apache_tika/testWORD_protected_passtika.docx": "tika"}

if not (MORE / "facts.jsonl").is_file():
    pytest.skip(f"{MORE} not found; lay out ../shared beside the repository to run this", allow_module_level=True)


def _facts() -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for line in (MORE / "facts.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            found[row["file"]].append((row["kind"], row["text"]))
    return dict(found)


FACTS = _facts()
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Runs of whitespace (newlines included) as one space."""
    return _SPACES.sub(" ", text).strip()


def similarity(fact: str, text: str) -> float:
    """The best normalised Levenshtein similarity of ``fact`` to any window of ``text`` (1.0: found verbatim)."""
    fact, text = fact.lower(), text.lower()
    if fact in text:
        return 1.0
    try:
        from rapidfuzz import fuzz

        return fuzz.partial_ratio(fact, text) / 100
    except ImportError:
        return 1 - _best_window_distance(fact, text) / len(fact)


def _best_window_distance(fact: str, text: str) -> int:
    """The least edit distance from ``fact`` to a substring of ``text`` (Sellers' algorithm: free start and end)."""
    previous = [0] * (len(text) + 1)
    for i, char in enumerate(fact, start=1):
        current = [i] + [0] * len(text)
        for j, other in enumerate(text, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
        previous = current
    return min(previous)


def in_table_cell(doc: ParsedDocument, fact: str) -> bool:
    """Whether ``fact`` is (inside) a cell of one of the document's pipe tables."""
    for table in doc.tables:
        for line in doc.text[table.start : table.end].split("\n"):
            cells = [normalise(cell.replace("\\|", "|")) for cell in re.split(r"(?<!\\)\|", line)]
            if any(fact in cell for cell in cells):
                return True
    return False


def check_fact(doc: ParsedDocument, kind: str, fact: str) -> str | None:
    """None when the fact is found, else what is wrong."""
    text = normalise(doc.text)
    if kind == "ocr":
        score = similarity(normalise(fact), text)
        return None if score >= OCR_SIMILARITY else f"OCR fact {fact!r}: best similarity {score:.2f}"
    if kind == "table_cell":
        return None if in_table_cell(doc, normalise(fact)) else f"table cell {fact!r} is in no pipe-table cell"
    return None if normalise(fact) in text else f"{kind} {fact!r} not in the text"


def _params() -> list:
    """One case per file; files with OCR facts are slow (Tesseract reads a page in 1-3 s on 2 cores)."""
    ocr = {relative for relative, facts in FACTS.items() if any(kind == "ocr" for kind, _ in facts)}
    return [pytest.param(r, marks=pytest.mark.slow) if r in ocr else r for r in sorted(FACTS)]


@pytest.mark.parametrize("relative", _params())
def test_facts_of_file(relative, valid_sections):
    kinds = {kind for kind, _ in FACTS[relative]}
    if "ocr" in kinds and shutil.which("tesseract") is None:
        pytest.skip("OCR facts need Debian's tesseract-ocr (apt-get install tesseract-ocr tesseract-ocr-eng)")
    path = MORE / relative
    doc = parse_bytes(path.read_bytes(), path.name, password=PASSWORDS.get(relative))
    valid_sections(doc)
    problems = [p for kind, fact in FACTS[relative] if (p := check_fact(doc, kind, fact)) is not None]
    assert not problems, f"{relative}: {problems}"


def test_every_fact_file_exists():
    assert all((MORE / relative).is_file() for relative in FACTS)


@pytest.mark.parametrize("relative", sorted(PASSWORDS))
def test_protected_file_needs_its_password(relative):
    data = (MORE / relative).read_bytes()
    name = Path(relative).name
    with pytest.raises(EncryptedDocumentError, match="password-protected; send its password") as info:
        parse_bytes(data, name)
    assert type(info.value) is EncryptedDocumentError and name in str(info.value)
    with pytest.raises(WrongPasswordError, match="does not open"):
        parse_bytes(data, name, password="not " + PASSWORDS[relative])


def test_similarity_allows_small_ocr_errors():
    assert similarity("Optical character recognition", "xx Opticai charactor recognition yy") >= OCR_SIMILARITY
    assert similarity("Optical character recognition", "a page about something else") < OCR_SIMILARITY
    assert _best_window_distance("kitten", "a sitting cat") == 2
