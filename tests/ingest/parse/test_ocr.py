"""OCR with Tesseract: the facts of real scans found, confidence, bounds, and a missing Tesseract named."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from ingest.errors import DocumentParseError, MissingToolError
from ingest.parse import ocr, parse_bytes
from tests.ingest.parse.scans import text_image

MORE = Path(__file__).resolve().parents[3].parent / "shared/data/documents-more"
SIMILARITY = 0.9  # OCR facts: 1 - (edit distance to the closest substring) / (fact length), on normalised text


def similarity(fact: str, text: str) -> float:
    """How closely ``fact`` occurs in ``text``: 1 - the fewest edits (Sellers) that make it a substring, by its length.

    Case and runs of whitespace are ignored: OCR breaks lines where the page does.
    """
    fact, text = " ".join(fact.lower().split()), " ".join(text.lower().split())
    previous = [0] * (len(text) + 1)  # a match may start anywhere in the text: the first row is free
    for i, want in enumerate(fact, start=1):
        current = [i] + [0] * len(text)
        for j, got in enumerate(text, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (want != got))
        previous = current
    return 1 - min(previous) / len(fact)


def _ocr_facts() -> dict[str, list[str]]:
    path = MORE / "facts.jsonl"
    if not path.is_file():
        return {}
    by_file: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        fact = json.loads(line)
        if fact["kind"] == "ocr":
            by_file.setdefault(fact["file"], []).append(fact["text"])
    return by_file


FACTS = _ocr_facts()


def test_similarity_finds_a_substring_and_counts_edits():
    assert similarity("Garden work", "Bill no. 3139\nGarden  work, spring") == 1.0
    assert similarity("Garden work", "Garden wark") == pytest.approx(1 - 1 / 11)
    assert similarity("Garden work", "nothing alike here") < 0.5


@pytest.mark.slow
@pytest.mark.skipif(not FACTS, reason=f"documents-more not found at {MORE}")
@pytest.mark.parametrize("relative", sorted(FACTS) or ["none"])
def test_the_facts_of_real_scans_are_found(relative, valid_sections):
    """Scanned PDFs (CCITT fax, JPEG) and images (a photo of a bill, a screenshot) read with their facts."""
    path = MORE / relative
    doc = parse_bytes(path.read_bytes(), path.name)
    valid_sections(doc)
    for fact in FACTS[relative]:
        assert similarity(fact, doc.text) >= SIMILARITY, (fact, doc.text[:2000])
    assert doc.metadata["ocr_pages"] == [1] and not doc.metadata["low_confidence_pages"]
    assert all(s.ocr_confidence is not None and s.ocr_confidence >= 80 for s in doc.sections)


def test_lines_and_paragraphs_are_kept_with_a_confidence():
    image = text_image(["First paragraph, first line", "and its second line", "", "", "A second paragraph here"])
    result = ocr.recognize(image, "made.png")
    assert result.text == "First paragraph, first line\nand its second line\n\nA second paragraph here"
    assert result.words == 12 and 80 <= result.confidence <= 100 and not result.low


def test_a_blank_image_reads_no_words_and_is_not_called_low_confidence():
    result = ocr.recognize(Image.new("L", (800, 600), 255), "blank.png")
    assert result == ocr.OcrResult(text="", confidence=0.0, words=0) and not result.low


def test_without_tesseract_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setattr(ocr, "TESSERACT", "tesseract-not-installed-here")  # shutil.which finds nothing
    assert not ocr.available()
    with pytest.raises(MissingToolError) as info:
        parse_bytes(_png(text_image(["Some words"])), "photo.png")
    message = str(info.value)
    assert message.startswith("photo.png has no extractable text (it is an image) and OCR is not installed")
    assert "tesseract-ocr and tesseract-ocr-eng" in message and "`make`" in message
    with pytest.raises(MissingToolError, match=r"made.png needs OCR, and Tesseract is not installed on the server"):
        ocr.recognize(text_image(["Some words"]), "made.png")  # a parser that did not ask ``require`` first


def test_without_the_english_data_the_message_names_the_package(monkeypatch):
    monkeypatch.setattr(ocr, "LANGUAGE", "xxx")  # Tesseract runs, and cannot load the language
    with pytest.raises(
        MissingToolError, match=r"made.png needs OCR, but Tesseract has no English data .*tesseract-ocr-eng"
    ):
        ocr.recognize(text_image(["Words"]), "made.png")


def test_tesseract_runs_on_one_thread(monkeypatch):
    """Tesseract starts a thread per core per page unless told otherwise: 3-5 times slower on 2 busy cores."""
    seen = {}
    original = ocr.subprocess.run

    def spy(command, **kwargs):
        seen.update(kwargs["env"])
        return original(command, **kwargs)

    monkeypatch.setattr(ocr.subprocess, "run", spy)
    ocr.recognize(text_image(["Words"]), "made.png")
    assert seen["OMP_THREAD_LIMIT"] == "1"


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels and holds one row: what a decompression bomb's header says."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" + b"\xff" * (width // 8 + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [13_000, 100_000])
def test_an_image_too_large_to_decode_is_refused_unread(side):
    started = time.monotonic()
    with pytest.raises(DocumentParseError) as info:
        parse_bytes(_png_header(side, side), "huge.png")
    assert time.monotonic() - started < 2  # refused from its header, never decoded
    message = str(info.value)
    assert message.startswith("huge.png is too large to read by OCR (") and "the limit is 160 megapixels" in message
    assert f"{side:,} x {side:,} pixels" in message or side > 13_000  # past twice PIL's guard: PIL refuses first


@pytest.mark.slow
def test_a_large_image_is_read_scaled_down():
    """45 megapixels (a 48 MP phone photo's size) is read at 40."""
    image = Image.new("1", (7500, 6000), 1)
    image.paste(text_image(["Scaled down but legible"], size=(2400, 300), font_px=120), (600, 600))
    doc = parse_bytes(_png(image), "big.png")
    assert similarity("Scaled down but legible", doc.text) >= SIMILARITY
    fitted = ocr.fit(ocr.open_image(_png(image), "big.png"))
    assert fitted.width * fitted.height <= ocr.MAX_PIXELS < 45_000_000
