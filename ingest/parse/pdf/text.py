"""The text layer of a PDF with pypdf: cleaned text per page, which pages draw images, the title.

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
runs of spaces collapsed, lines stripped.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, LimitReachedError

from core.errors import MissingDependencyError, RAGError
from ingest.errors import DocumentParseError, EncryptedDocumentError, WrongPasswordError

from ..common import check_expansion, clip_heading, collapse_spaces, normalize_text
from .structure import LIGATURES, outline

log = logging.getLogger(__package__)  # "ingest.parse.pdf": one logger for the parser


@dataclass
class Problems:
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
    def collect(self) -> Iterator[Problems]:
        self.local.problems = problems = Problems()
        try:
            yield problems
        finally:
            self.local.problems = None


_PROBLEMS = _PypdfProblems()
_pypdf_log = logging.getLogger("pypdf")
_pypdf_log.addHandler(_PROBLEMS)
_pypdf_log.propagate = False


@dataclass
class PdfText:
    """What was read from one PDF's text layer, before its text is checked."""

    pages: list[str]  # cleaned text per page ("" where it failed)
    images: list[bool]  # per page: whether it draws an image
    failures: int  # pages whose text could not be extracted
    outline: dict[int, list[tuple[str, ...]]]  # heading paths by 0-based page
    title: str
    problems: Problems  # what pypdf logged on the way


def read(
    data: bytes, filename: str, password: str | None, too_many: Callable[[str, bool], bool] | None = None
) -> PdfText:
    """Pages, outline and title; any error of pypdf's becomes a :class:`DocumentParseError`, and what pypdf
    logged is reported as one warning for the file.

    ``too_many(text, has_images)`` is told each page as it is read; when it returns True the reading
    stops there (a 5,000-page scan is refused after the pages that prove it, not after all of them).
    """
    with _PROBLEMS.collect() as problems:
        try:
            reader = _open(data, filename, password)
            pages, images, failures = _extract_pages(reader, filename, len(data), too_many)
            headings = outline(reader)
            title = clip_heading((reader.metadata.title or "").strip()) if reader.metadata else ""
        except (RAGError, MemoryError):
            raise
        except Exception as exc:  # pypdf raises many types on corrupt input; none may escape
            raise DocumentParseError(
                f"{filename} could not be read as a PDF ({short(exc)}); check that the file is complete "
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
    return PdfText(pages, images, failures, headings, title, problems)


def _open(data: bytes, filename: str, password: str | None) -> PdfReader:
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        try:
            decrypted = reader.decrypt(password or "")  # an empty user password still opens some PDFs
        except DependencyError as exc:
            raise MissingDependencyError(
                f"{filename} uses AES encryption; install the 'cryptography' package to read it"
            ) from exc
        if decrypted == PasswordType.NOT_DECRYPTED and password:
            raise WrongPasswordError(f"the password given does not open {filename}; check it and upload again")
        if decrypted == PasswordType.NOT_DECRYPTED:
            raise EncryptedDocumentError(f"{filename} is encrypted; remove the password and upload again")
    return reader


def short(exc: Exception) -> str:
    """An exception in one line of at most 160 characters, for a message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _extract_pages(
    reader: PdfReader, filename: str, n_bytes: int, too_many: Callable[[str, bool], bool] | None
) -> tuple[list[str], list[bool], int]:
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
                f"{filename}: page {number} goes past a limit of pypdf ({short(exc)}); it may be a decompression "
                "bomb or crafted to exhaust the parser: check that it opens in a PDF viewer"
            ) from exc
        except MemoryError:  # not a broken page: the sandbox's memory limit (see ``sandbox``)
            raise
        except Exception:  # one broken content stream should not lose the other pages
            raw, failures = "", failures + 1
        check_expansion(total := total + len(raw), n_bytes, filename)
        pages.append(clean(raw))
        try:
            images.append(_has_images(page))
        except Exception:  # a broken resource dictionary: no images known
            images.append(False)
        if too_many is not None and too_many(pages[-1], images[-1]):
            break
    if failures == len(pages):
        raise DocumentParseError(f"{filename}: no page of this PDF could be read; check that the file is complete")
    return pages, images, failures


def clean(raw: str) -> str:
    """Extracted text normalised: ligatures expanded, spaces collapsed, at most one blank line in a row."""
    text = collapse_spaces(normalize_text(raw).translate(LIGATURES).replace("\f", "\n"))
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
