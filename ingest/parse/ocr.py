"""Optical character recognition with Tesseract: an image in, its text and a confidence out.

Why Tesseract: Debian packages it (``tesseract-ocr`` and ``tesseract-ocr-eng``,
which ``make`` installs), it is Apache-licensed, runs on CPUs, and gives a
confidence per word. It runs as the ``tesseract`` program, one call per page,
reading a PNG on stdin and writing TSV (a row per word: its block, paragraph
and line, its confidence and its text) on stdout. It is called directly rather
than through ``pytesseract`` because the call must set ``OMP_THREAD_LIMIT=1``
in the program's environment: Tesseract otherwise runs OpenMP threads on every
page, which on 2 busy cores made a page 3 to 6 times slower (9.0 s against
3.0 s for a 300 dpi A4 scan; ``OMP_NUM_THREADS=1`` did not help), and
``pytesseract`` only passes on this process's environment, where setting it
would also cap the OpenMP of libraries loaded later (torch).

Preprocessing, measured on the six OCR files of ``documents-more`` (every fact
is found with each variant; see ``tests/ingest/parse/test_ocr.py``): the image
is converted to grayscale (12 % faster than colour, mean word confidence equal
or higher), and one whose longer side is under ``UPSCALE_BELOW`` pixels is
enlarged twice (confidence 90.0 -> 94.9 on the photographed bill, 88.3 -> 91.0
on the 96 dpi screenshot). Tesseract binarises internally (Otsu); a fixed
threshold here first lowered confidence (86.5 -> 81.3, 93.8 -> 80.4) and found
no more facts, so it is not done.

Bounds: an image of more than ``MAX_PIXELS`` is scaled down to it, one of more
than ``MAX_DECODE_PIXELS`` is refused before it is decoded (PIL's own
decompression-bomb guard is set to that limit as well); each page may take
``PAGE_TIMEOUT_S``; a document may have ``MAX_PAGES`` pages read by OCR (the
parsers refuse more).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import warnings
from dataclasses import dataclass

from PIL import Image

from ingest.errors import DocumentParseError, MissingToolError

MAX_PIXELS = 40_000_000  # what OCR reads: a letter page at 300 dpi is 8.4 million
MAX_DECODE_PIXELS = 4 * MAX_PIXELS  # larger images are refused unread (160 MP of RGB is 480 MB decoded)
MAX_PAGES = 200  # pages or images one document may have read by OCR (about 1 to 3 s each on one core)
PAGE_TIMEOUT_S = 120.0  # for Tesseract to read one page
LOW_CONFIDENCE = 50.0  # a page whose mean word confidence is below this is ingested but flagged
UPSCALE_BELOW = 1600  # a smaller image (longer side, pixels) is enlarged twice: its letters are a few pixels high
LANGUAGE = "eng"
TESSERACT = "tesseract"  # the program, looked up on PATH

Image.MAX_IMAGE_PIXELS = MAX_DECODE_PIXELS  # PIL warns past this and refuses past twice it, on open

_INSTALL = (
    "install Debian's tesseract-ocr and tesseract-ocr-eng packages (`make` does it: "
    "sudo apt-get install tesseract-ocr tesseract-ocr-eng)"
)


@dataclass(frozen=True)
class OcrResult:
    """The text Tesseract read from one image.

    Attributes:
        text: lines of a paragraph joined by newlines, paragraphs by a blank line; "" when no word was read.
        confidence: the mean confidence (0-100) of the words read; 0.0 when none was.
        words: how many words were read.
    """

    text: str
    confidence: float
    words: int

    @property
    def low(self) -> bool:
        """Whether the page should be flagged as read with low confidence (one with no words is not)."""
        return self.words > 0 and self.confidence < LOW_CONFIDENCE


def available() -> bool:
    """Whether the ``tesseract`` program is installed (on PATH)."""
    return shutil.which(TESSERACT) is not None


def require(filename: str, what: str) -> None:
    """Raise unless Tesseract is installed.

    Args:
        filename: the upload, named in the message.
        what: what needs OCR, for the message ("it looks like scanned images").

    Raises:
        MissingToolError: Tesseract is missing; the message says what to install.
    """
    if not available():
        raise MissingToolError(
            f"{filename} has no extractable text ({what}) and OCR is not installed on the server; "
            f"{_INSTALL}, or run OCR on it first (for example ocrmypdf) and upload the result"
        )


def recognize(image: Image.Image, filename: str, page: int | None = None) -> OcrResult:
    """Read the text of one image (or rendered page) with Tesseract.

    Args:
        image: any PIL image of at most ``MAX_PIXELS`` (see ``fit``).
        filename: the upload, named in error messages.
        page: the 1-based page the image is, for error messages.

    Raises:
        MissingToolError: Tesseract, or its English data, is not installed.
        DocumentParseError: Tesseract failed or took longer than ``PAGE_TIMEOUT_S``.
    """
    where = f"{filename} page {page}" if page is not None else filename
    png = io.BytesIO()
    _prepare(image).save(png, format="PNG", compress_level=1)
    command = [TESSERACT, "stdin", "stdout", "-l", LANGUAGE, "--psm", "3", "tsv"]
    environment = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        done = subprocess.run(
            command, input=png.getvalue(), capture_output=True, env=environment, timeout=PAGE_TIMEOUT_S
        )
    except FileNotFoundError:  # uninstalled since ``require`` was asked
        raise MissingToolError(f"{where} needs OCR, and Tesseract is not installed on the server; {_INSTALL}") from None
    except subprocess.TimeoutExpired:
        raise DocumentParseError(
            f"{where} took longer than {PAGE_TIMEOUT_S:g} s to read by OCR; scan it again at 300 dpi, "
            "or split the image"
        ) from None
    if done.returncode != 0:
        error = " ".join(done.stderr.decode(errors="replace").split())[-300:]
        if LANGUAGE in error and "load" in error.lower():
            raise MissingToolError(f"{where} needs OCR, but Tesseract has no English data ({error}); {_INSTALL}")
        raise DocumentParseError(f"OCR failed on {where} ({error}); check that the image opens in a viewer")
    return _read_tsv(done.stdout.decode("utf-8", errors="replace"))


def _prepare(image: Image.Image) -> Image.Image:
    """Grayscale, and twice the size when small (see the module docstring)."""
    if image.mode in ("RGBA", "LA", "P") or "transparency" in image.info:
        # Transparent pixels are often black under the alpha: put the image on white first.
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    gray = image.convert("L")
    if max(gray.size) < UPSCALE_BELOW:
        gray = gray.resize((gray.width * 2, gray.height * 2), Image.Resampling.LANCZOS)
    return gray


def _read_tsv(tsv: str) -> OcrResult:
    """Words of Tesseract's TSV grouped back into lines and paragraphs, and their mean confidence."""
    paragraphs: dict[tuple[str, str, str], dict[str, list[str]]] = {}
    confidences: list[float] = []
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        word = (row.get("text") or "").strip()
        if row.get("level") != "5" or not word:
            continue
        key = (row["page_num"], row["block_num"], row["par_num"])
        paragraphs.setdefault(key, {}).setdefault(row["line_num"], []).append(word)
        confidences.append(max(0.0, float(row["conf"])))
    text = "\n\n".join("\n".join(" ".join(words) for words in lines.values()) for lines in paragraphs.values())
    mean = sum(confidences) / len(confidences) if confidences else 0.0
    return OcrResult(text=text, confidence=round(mean, 1), words=len(confidences))


def open_image(data: bytes, filename: str) -> Image.Image:
    """Open PNG, JPEG or TIFF bytes without decoding them, refusing those too large to decode.

    Raises:
        DocumentParseError: not a PNG, JPEG or TIFF image PIL reads, or more than ``MAX_DECODE_PIXELS``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # ``check_size`` says it better
            image = Image.open(io.BytesIO(data), formats=["PNG", "JPEG", "TIFF"])
    except Image.DecompressionBombError:
        raise _too_large(filename, None) from None
    except Exception as exc:  # PIL raises many types on bytes it cannot read
        raise DocumentParseError(
            f"{filename} could not be read as a PNG, JPEG or TIFF image ({type(exc).__name__}); check that it "
            "opens in an image viewer, or save it again as PNG"
        ) from exc
    check_size(image, filename)
    return image


def check_size(image: Image.Image, filename: str) -> None:
    """Refuse an image (or the current frame of a TIFF) of more than ``MAX_DECODE_PIXELS``.

    Raises:
        DocumentParseError: it is larger; the message gives its size and the limit.
    """
    if image.width * image.height > MAX_DECODE_PIXELS:
        raise _too_large(filename, image.size)


def _too_large(filename: str, size: tuple[int, int] | None) -> DocumentParseError:
    shown = f"{size[0]:,} x {size[1]:,} pixels" if size else "its size"
    return DocumentParseError(
        f"{filename} is too large to read by OCR ({shown}; the limit is {MAX_DECODE_PIXELS // 1_000_000} "
        f"megapixels, and larger images are read at {MAX_PIXELS // 1_000_000}): scale it down (a page scanned "
        "at 300 dpi is about 9 megapixels)"
    )


def fit(image: Image.Image) -> Image.Image:
    """``image`` decoded, scaled down to at most ``MAX_PIXELS`` if larger (JPEG decodes at the smaller size)."""
    pixels = image.width * image.height
    if pixels <= MAX_PIXELS:
        image.load()
        return image
    scale = (MAX_PIXELS / pixels) ** 0.5
    size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
    if image.format == "JPEG":
        image.draft("RGB" if image.mode not in ("L", "1") else "L", size)  # decodes at 1/2, 1/4 or 1/8
    return image.resize(size, Image.Resampling.LANCZOS) if image.size != size else image
