"""PDF parser (``.pdf``): text per page with pypdf, split at outline headings.

Why pypdf: it is pure Python (BSD licence, actively maintained by the py-pdf
organisation), so it installs everywhere with no native library, unlike
PyMuPDF (AGPL, bundles MuPDF binaries) or poppler-based tools; pdfminer.six,
also pure Python, adds a layout analysis this platform does not need. pypdf
decrypts RC4 and, with ``cryptography`` installed, AES PDFs.
Its default extraction follows the content stream, which for typeset text is
reading order and keeps two-column papers column by column; the "layout" mode
reproduces the page's geometry with runs of spaces, which helps tables but
interleaves columns line by line and pads every line, so it is not used.

Clean-up after extraction: ligatures are expanded (``ﬁ`` -> ``fi``), tabs and
runs of spaces collapsed, lines stripped, and line-end hyphenation undone when
both sides are lowercase letters, unless the document also spells the pair
with a hyphen elsewhere (``well-known``), which marks a real compound.

Sections: one per page (``Section.page`` is 1-based), split further where an
outline (bookmark) heading starts on that page and its title is found at the
start of a line; the heading path comes from the outline's nesting.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, LimitReachedError

from core.errors import MissingDependencyError, RAGError
from ingest.errors import DocumentParseError, EncryptedDocumentError, NoTextError

from .common import MAX_HEADING_CHARS, SectionBuilder, check_expansion, clip_heading, collapse_spaces, normalize_text
from .types import ParsedDocument

MEDIA_TYPE = "application/pdf"
# A page with fewer letters and digits than this is treated as having no text
# layer when it carries images (a scan with a stray "Background" label).
MIN_PAGE_CHARS = 40

log = logging.getLogger(__name__)


@dataclass
class _Problems:
    """What pypdf logged while one PDF was read."""

    count: int = 0
    first: str = ""


class _PypdfProblems(logging.Handler):
    """Collects pypdf's log records per thread instead of letting each reach the log.

    A damaged PDF makes pypdf log a warning per broken object, thousands for one
    file; the parser reports them as one line per file instead.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        problems = getattr(self.local, "problems", None)
        if problems is None:  # pypdf used outside parse(): no file to report it for
            return
        if not problems.count:
            try:
                problems.first = record.getMessage()[:200]
            except Exception:  # a record that cannot be formatted still counts
                problems.first = str(record.msg)[:200]
        problems.count += 1

    @contextmanager
    def collect(self) -> Iterator[_Problems]:
        self.local.problems = problems = _Problems()
        try:
            yield problems
        finally:
            self.local.problems = None


_PROBLEMS = _PypdfProblems()
_pypdf_log = logging.getLogger("pypdf")
_pypdf_log.addHandler(_PROBLEMS)
_pypdf_log.propagate = False

_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
# The lookbehind starts a match only at a word's first letter: without it a long run of letters
# with no hyphen is rescanned from every position (quadratic; minutes for one 10 MB "word").
_HYPHENATED = re.compile(r"(?<![^\W\d_])([^\W\d_]+)-\n([^\W\d_]+)")
_WORDS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def parse(data: bytes, filename: str) -> ParsedDocument:
    """Parse a PDF into per-page sections.

    Args:
        data: the raw bytes of the PDF.
        filename: used in error messages.

    Returns:
        A document with ``n_pages`` set, pages joined by a blank line and
        ``metadata["pages_without_text"]`` listing 1-based pages that had none.

    Raises:
        EncryptedDocumentError: a password other than the empty one is needed.
        NoTextError: no page has a text layer (a scanned document).
        DocumentParseError: the bytes are not a readable PDF.
        MissingDependencyError: the PDF uses AES and ``cryptography`` is missing.
    """
    if b"%PDF-" not in data[:1024]:
        raise DocumentParseError(f"{filename} is not a PDF (no %PDF header); check the file and its extension")
    pdf = _read(data, filename)
    counts = [sum(ch.isalnum() for ch in page) for page in pdf.pages]
    _check_text(filename, pdf, counts)
    pages = _dehyphenate(pdf.pages)
    builder = SectionBuilder()
    path: tuple[str, ...] = ()
    for index, page in enumerate(pages):
        for segment, segment_path in _split_at_headings(page, pdf.outline.get(index, []), path):
            builder.add(segment, page=index + 1, heading_path=segment_path)
            path = segment_path
    text, sections = builder.build()
    return ParsedDocument(
        text=text,
        sections=sections,
        media_type=MEDIA_TYPE,
        title=pdf.title or None,
        n_pages=len(pages),
        metadata={"pages_without_text": [i + 1 for i, count in enumerate(counts) if not count]},
    )


@dataclass
class _Pdf:
    """What was read from one PDF, before its text is checked."""

    pages: list[str]  # cleaned text per page ("" where it failed)
    images: list[bool]  # per page: whether it draws an image
    failures: int  # pages whose text could not be extracted
    outline: dict[int, list[tuple[str, ...]]]  # heading paths by 0-based page
    title: str
    problems: _Problems  # what pypdf logged on the way


def _read(data: bytes, filename: str) -> _Pdf:
    """Pages, outline and title; any error of pypdf's becomes a :class:`DocumentParseError`, and what pypdf
    logged is reported as one warning for the file."""
    with _PROBLEMS.collect() as problems:
        try:
            reader = _open(data, filename)
            pages, images, failures = _extract_pages(reader, filename, len(data))
            outline = _outline(reader)
            title = clip_heading((reader.metadata.title or "").strip()) if reader.metadata else ""
        except (RAGError, MemoryError):
            raise
        except Exception as exc:  # pypdf raises many types on corrupt input; none may escape
            raise DocumentParseError(
                f"{filename} could not be read as a PDF ({_short(exc)}); check that the file is complete "
                "and opens in a PDF viewer"
            ) from exc
        finally:
            if problems.count:
                log.warning(
                    "%s: pypdf reported %d problem(s) while reading the PDF (first: %s)",
                    filename,
                    problems.count,
                    problems.first,
                )
    return _Pdf(pages, images, failures, outline, title, problems)


def _check_text(filename: str, pdf: _Pdf, counts: list[int]) -> None:
    """Refuse a PDF with no text (letters and digits per page in ``counts``), saying whether it looks
    damaged or scanned."""
    if not any(counts) and (pdf.failures or pdf.problems.count):
        # No text, and pypdf stumbled on the way: damage, not a scan, is the likely cause.
        failures, n = pdf.failures, len(pdf.pages)
        failed = f"the text of {failures} of {n} pages could not be read" if failures else "it is damaged"
        raise DocumentParseError(
            f"{filename}: no text could be extracted and {failed} ({pdf.problems.count} problems while reading); "
            "check that it opens in a PDF viewer, or export it again"
        )
    if not any(counts) and not any(pdf.images):
        raise NoTextError(f"{filename} has pages but no text on them; upload a PDF that contains text")
    if not any(counts) or (any(pdf.images) and max(counts) < MIN_PAGE_CHARS):
        raise NoTextError(
            f"{filename} has no extractable text (it looks like scanned images); "
            "run OCR on it (for example ocrmypdf) first and upload the result"
        )


def _open(data: bytes, filename: str) -> PdfReader:
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        try:
            decrypted = reader.decrypt("")  # an empty user password still opens some PDFs
        except DependencyError as exc:
            raise MissingDependencyError(
                f"{filename} uses AES encryption; install the 'cryptography' package to read it"
            ) from exc
        if decrypted == PasswordType.NOT_DECRYPTED:
            raise EncryptedDocumentError(f"{filename} is encrypted; remove the password and upload again")
    return reader


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _extract_pages(reader: PdfReader, filename: str, n_bytes: int) -> tuple[list[str], list[bool], int]:
    """Cleaned text and an "has images" flag per page, and how many pages failed (those are left empty).

    A bomb (text past ``common.text_limit``, a stream past pypdf's limits) is stopped page by page.
    """
    if not reader.pages:
        raise DocumentParseError(f"{filename} has no pages; check that the file is complete")
    pages, images, failures, total = [], [], 0, 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            raw = page.extract_text() or ""
        except LimitReachedError as exc:
            raise DocumentParseError(
                f"{filename}: page {number} goes past a limit of pypdf ({_short(exc)}); it may be a decompression "
                "bomb or crafted to exhaust the parser: check that it opens in a PDF viewer"
            ) from exc
        except MemoryError:  # not a broken page: the sandbox's memory limit (see ``sandbox``)
            raise
        except Exception:  # one broken content stream should not lose the other pages
            raw, failures = "", failures + 1
        check_expansion(total := total + len(raw), n_bytes, filename)
        pages.append(_clean(raw))
        try:
            images.append(_has_images(page))
        except Exception:  # a broken resource dictionary: no images known
            images.append(False)
    if failures == len(pages):
        raise DocumentParseError(f"{filename}: no page of this PDF could be read; check that the file is complete")
    return pages, images, failures


def _clean(raw: str) -> str:
    text = collapse_spaces(normalize_text(raw).translate(_LIGATURES).replace("\f", "\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _has_images(holder, depth: int = 0) -> bool:
    """Whether a page (or form XObject) draws an image XObject; scanners often wrap scans in forms."""
    resources = holder.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources is not None else None
    if xobjects is None:
        return False
    for xobject in xobjects.get_object().values():
        xobject = xobject.get_object()
        if xobject.get("/Subtype") == "/Image":
            return True
        if xobject.get("/Subtype") == "/Form" and depth < 2 and _has_images(xobject, depth + 1):
            return True
    return False


def _dehyphenate(pages: list[str]) -> list[str]:
    """Join ``exam-\\nple`` into ``example`` unless ``exam-ple`` is a compound elsewhere in the document."""
    unbroken = "\n".join(_HYPHENATED.sub(" ", page) for page in pages)
    compounds = {w.lower() for w in _WORDS.findall(unbroken) if "-" in w}

    def join(match: re.Match) -> str:
        left, right = match.group(1), match.group(2)
        if not (left[-1].islower() and right[0].islower()):
            return match.group(0)
        return f"{left}-{right}" if f"{left}-{right}".lower() in compounds else left + right

    return [_HYPHENATED.sub(join, page) for page in pages]


def _outline(reader: PdfReader) -> dict[int, list[tuple[str, ...]]]:
    """Heading paths of the outline, grouped by 0-based page; empty when there is none or it is broken."""
    by_page: dict[int, list[tuple[str, ...]]] = {}

    def walk(items: list, parents: tuple[str, ...]) -> None:
        last = parents
        for item in items:
            if isinstance(item, list):
                walk(item, last)
                continue
            title = clip_heading(" ".join(str(item.title or "")[: 4 * MAX_HEADING_CHARS].split()))
            page = reader.get_destination_page_number(item)
            if title and page is not None and page >= 0:
                last = (*parents, title)
                by_page.setdefault(page, []).append(last)

    try:
        walk(reader.outline, ())
    except Exception:  # a broken outline only costs the headings
        return {}
    return by_page


def _split_at_headings(page: str, headings: list[tuple[str, ...]], path: tuple[str, ...]):
    """Yield ``(segment, heading_path)`` pieces of a page, cut where an outline title starts a line.

    A heading whose title is not found takes effect where the previous one
    ended (the page start if it is the first), so its path is never lost.
    """
    cursor = 0
    for heading in headings:
        words = r"\s+".join(re.escape(w) for w in heading[-1].translate(_LIGATURES).split())
        found = re.compile(rf"^(?:[\dIVXivx]+(?:\.\d+)*\.?\s+)?{words}\s*$", re.MULTILINE).search(page, cursor)
        if found is not None and found.start() > cursor:
            yield page[cursor : found.start()], path
            cursor = found.start()
        path = heading
    yield page[cursor:], path
