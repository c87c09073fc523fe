"""ZIP containers (.docx, .pptx, .xlsx, .odt, .ods, .epub) are opened within limits: bombs get a clear 422."""

from __future__ import annotations

import io
import random
import struct
import time
import zipfile
import zlib

import pytest

from ingest.errors import DocumentParseError
from ingest.parse import check_upload, parse_bytes
from ingest.parse.container import MAX_ENTRIES, MAX_RATIO, ZipLimitError, open_zip, read_member

GIB = 1 << 30


def word_document(text: str = "A small report.") -> bytes:
    """A real .docx written by python-docx."""
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def deflated_zeros(size_mib: int) -> tuple[bytes, int]:
    """Raw deflate data of ``size_mib`` MiB of zeros and its CRC-32, built without deflating it all.

    One MiB of zeros is compressed with a full flush, which ends byte-aligned and resets the
    window, so the block can be repeated; an empty final block closes the stream.
    """
    block = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size_mib):
        crc = zlib.crc32(block, crc)
    return chunk * size_mib + b"\x03\x00", crc


def zip_with(entries: list[tuple[str, bytes, int, int]]) -> bytes:
    """A ZIP archive of already deflated entries ``(name, raw deflate data, size, crc)``, written field by field."""
    out, central = bytearray(), bytearray()
    for name, raw, size, crc in entries:
        encoded = name.encode()
        fields = (20, 0, 8, 0, 0x21, crc, len(raw), size, len(encoded))  # version, flags, deflate, time, date...
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, len(out)) + encoded
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields, 0) + encoded + raw
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(out), 0)
    return bytes(out + central + end)


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def docx_with_bomb(size_mib: int) -> bytes:
    """A valid .docx whose package also holds ``size_mib`` MiB of zeros as an image."""
    with zipfile.ZipFile(io.BytesIO(word_document())) as zf:
        entries = [(i.filename, deflate(zf.read(i)), i.file_size, i.CRC) for i in zf.infolist()]
    raw, crc = deflated_zeros(size_mib)
    return zip_with([*entries, ("word/media/image1.png", raw, size_mib << 20, crc)])


def test_the_zip_writer_writes_real_archives():
    data = docx_with_bomb(2)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        assert zf.read("word/media/image1.png") == bytes(2 << 20)
    assert "A small report." in parse_bytes(word_document(), "report.docx").text


def test_a_gigabyte_bomb_in_a_word_document_is_refused_at_the_door():
    data = docx_with_bomb(1024)  # 1 GiB of zeros in about 1 MB
    assert len(data) < 2 << 20
    started = time.perf_counter()
    for check in (check_upload, parse_bytes):
        with pytest.raises(ZipLimitError, match="decompression bomb") as info:
            check(data, "bomb.docx")
        assert "bomb.docx" in str(info.value) and "limit" in str(info.value)
    assert time.perf_counter() - started < 1.0  # refused from the central directory, never inflated


def test_an_entry_that_expands_too_much_is_a_bomb():
    data = docx_with_bomb(8)  # 8 MiB in about 8 KB: a ratio of about 1,000
    with pytest.raises(ZipLimitError, match=f"expands .* times \\(the limit is {MAX_RATIO}\\)"):
        check_upload(data, "report.docx")


def test_too_many_entries():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for i in range(MAX_ENTRIES + 1):
            zf.writestr(f"{i}.xml", b"")
    with pytest.raises(ZipLimitError, match=f"holds {MAX_ENTRIES + 1:,} files; the limit is {MAX_ENTRIES:,}"):
        open_zip(out.getvalue(), "many.xlsx")


def test_read_stops_at_its_limit_when_the_declared_size_lies():
    raw, crc = deflated_zeros(4)
    data = zip_with([("content.xml", raw, 1000, crc)])  # declares 1,000 bytes, holds 4 MiB
    zf = open_zip(data, "lying.odt")
    with pytest.raises(DocumentParseError, match="lying.odt: content.xml"):
        read_member(zf, "content.xml")  # zipfile stops at the declared size and the CRC check fails
    noise = random.Random(0).randbytes(1 << 18)
    honest = open_zip(zip_with([("content.xml", deflate(noise), len(noise), zlib.crc32(noise))]), "big.odt")
    with pytest.raises(ZipLimitError, match=r"big.odt: content.xml is 262,144 bytes; the limit is 65,536"):
        read_member(honest, "content.xml", limit=1 << 16)
    assert read_member(honest, "content.xml") == noise


def test_read_member_counts_what_it_inflates():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.xml", b"x" * 5000)
    zf = open_zip(out.getvalue(), "a.docx")
    assert read_member(zf, "a.xml", limit=5000) == b"x" * 5000
    with pytest.raises(ZipLimitError):
        read_member(zf, "a.xml", limit=4999)
    with pytest.raises(KeyError):
        read_member(zf, "missing.xml")


@pytest.mark.parametrize("data", [b"PK\x03\x04 not really", b"PK\x05\x06" + bytes(10)])
def test_a_broken_zip_is_a_parse_error(data):
    with pytest.raises(DocumentParseError, match="report.docx is not a readable ZIP container"):
        open_zip(data, "report.docx")
