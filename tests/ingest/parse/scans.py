"""Scans made at test time: text drawn into images, image-only and mixed PDFs, a PDF of thousands of image pages.

The sandbox's worker imports ``*_parse`` stand-ins from here by name (``SandboxedParser(target=...)``).
"""

from __future__ import annotations

import io
import time

from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfReader, PdfWriter

from ingest.parse import progress
from ingest.parse.types import ParsedDocument, Section


def text_image(lines: list[str], size: tuple[int, int] = (2480, 1200), font_px: int = 60) -> Image.Image:
    """Black text on white, one line per string, as a scanner at 300 dpi would give 14 pt type."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_px)
    for row, line in enumerate(lines):
        draw.text((120, 120 + row * int(font_px * 1.6)), line, fill=0, font=font)
    return image


def image_pdf(pages: list[Image.Image], dpi: int = 300) -> bytes:
    """A PDF of one image per page and no text layer (what a scanner writes), saved by Pillow."""
    buffer = io.BytesIO()
    pages[0].save(buffer, format="PDF", resolution=dpi, save_all=True, append_images=pages[1:])
    return buffer.getvalue()


def merge_pdfs(*pdfs: bytes) -> bytes:
    """The pages of the given PDFs, in order, in one PDF."""
    writer = PdfWriter()
    for data in pdfs:
        writer.append(PdfReader(io.BytesIO(data)))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def many_image_pages_pdf(n_pages: int) -> bytes:
    """A PDF of ``n_pages`` pages that each draw the same 1x1 gray image (about 120 bytes a page)."""
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Length 1 >>\nstream\n\x80\nendstream",
        4: b"<< /Length 29 >>\nstream\nq 612 0 0 792 0 0 cm /I Do Q\nendstream",
    }
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /XObject << /I 3 0 R >> >> >>"
    )
    kids = []
    for index in range(n_pages):
        objects[5 + index] = page
        kids.append(b"%d 0 R" % (5 + index))
    objects[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), n_pages)
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offsets[n] for n in sorted(objects))
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# -- stand-ins for a slow parser, run in the sandbox's worker ---------------------------------------
def steady_parse(data: bytes, filename: str, media_type: str | None) -> ParsedDocument:
    """Reports ``int(data)`` pages, 0.4 s apart: longer in all than a 1 s time limit, never 1 s without progress."""
    total = int(data)
    for done in range(1, total + 1):
        time.sleep(0.4)
        progress.report(done, total)
    text = f"{total} pages"
    return ParsedDocument(text=text, sections=[Section(0, len(text))], media_type="text/plain")


def stalled_parse(data: bytes, filename: str, media_type: str | None) -> ParsedDocument:
    """Reports one page, then never another."""
    progress.report(1, 5)
    time.sleep(3600)
    raise AssertionError("the sandbox should have stopped this")
