"""Outlook messages (``.msg``) built at run time with extract-msg's own compound-file writer (``OleWriter``).

extract-msg reads ``.msg`` files and cannot compose one, but its ``OleWriter``
writes any OLE compound file, so a message is laid out here as [MS-OXMSG]
describes: the properties of the message in ``__substg1.0_<tag>`` streams (strings
as UTF-16, type ``001F``) listed in ``__properties_version1.0``, an empty
named-property map, one ``__attach_version1.0_#<n>`` storage per attachment
(``ATTACH_BY_VALUE`` data, file name and MIME type) or per attached message
(``ATTACH_EMBEDDED_MSG``, the message in its ``__substg1.0_3701000D`` storage).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

from extract_msg.ole_writer import OleWriter

MESSAGE_CLASS, SUBJECT, BODY, SENDER = 0x001A001F, 0x0037001F, 0x1000001F, 0x0C1A001F
ATTACH_DATA, ATTACH_LONG_FILENAME, ATTACH_MIME_TAG, ATTACH_METHOD = 0x37010102, 0x3707001F, 0x370E001F, 0x37050003
STORE_SUPPORT_MASK, STORE_UNICODE_OK = 0x340D0003, 0x00040000
BY_VALUE, EMBEDDED_MSG = 1, 5
EMBEDDED = "__substg1.0_3701000D"


@dataclass
class MsgFile:
    """An attached file: its name, bytes and MIME type."""

    name: str
    data: bytes
    media_type: str


@dataclass
class Msg:
    """A message with its attached files and attached messages."""

    subject: str
    body: str
    sender: str = "Ana Lima <ana@example.org>"
    files: list[MsgFile] = field(default_factory=list)
    messages: list[Msg] = field(default_factory=list)


def build_msg(message: Msg, nul_terminated: bool = False) -> bytes:
    """The message as ``.msg`` bytes; ``nul_terminated`` ends each string stream with a UTF-16 NUL, as some
    writers do (Outlook does not)."""
    writer = OleWriter()
    for stream in ("00020102", "00030102", "00040102"):  # the named-property map's GUID, entry and string streams
        writer.addEntry(["__nameid_version1.0", f"__substg1.0_{stream}"], b"")
    _write_message(writer, [], message, nul_terminated, top=True)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _write_message(writer: OleWriter, prefix: list[str], message: Msg, nul: bool, top: bool) -> None:
    strings = {MESSAGE_CLASS: "IPM.Note", SUBJECT: message.subject, BODY: message.body, SENDER: message.sender}
    for tag, text in strings.items():
        writer.addEntry([*prefix, f"__substg1.0_{tag:08X}"], _utf16(text, nul))
    sizes = {tag: _string_size(text) for tag, text in strings.items()}
    for index, item in enumerate([*message.files, *message.messages]):
        storage = [*prefix, f"__attach_version1.0_#{index:08X}"]
        writer.addEntry(storage, storage=True)
        if isinstance(item, MsgFile):
            _write_file(writer, storage, item, nul)
        else:
            writer.addEntry([*storage, EMBEDDED], storage=True)
            _write_message(writer, [*storage, EMBEDDED], item, nul, top=False)
            writer.addEntry([*storage, "__properties_version1.0"], _properties(bytes(8), {ATTACH_METHOD: EMBEDDED_MSG}))
    count = len(message.files) + len(message.messages)
    # the header: reserved, next recipient id, next attachment id, recipient and attachment counts (+ reserved
    # at the top level only)
    header = struct.pack("<8sIIII", b"", 0, count, 0, count) + (bytes(8) if top else b"")
    properties = _properties(header, {STORE_SUPPORT_MASK: STORE_UNICODE_OK}, sizes)
    writer.addEntry([*prefix, "__properties_version1.0"], properties)


def _write_file(writer: OleWriter, storage: list[str], file: MsgFile, nul: bool) -> None:
    streams = {
        ATTACH_DATA: file.data,
        ATTACH_LONG_FILENAME: _utf16(file.name, nul),
        ATTACH_MIME_TAG: _utf16(file.media_type, nul),
    }
    for tag, data in streams.items():
        writer.addEntry([*storage, f"__substg1.0_{tag:08X}"], data)
    sizes = {ATTACH_DATA: len(file.data)} | {
        tag: _string_size(text) for tag, text in ((ATTACH_LONG_FILENAME, file.name), (ATTACH_MIME_TAG, file.media_type))
    }
    writer.addEntry([*storage, "__properties_version1.0"], _properties(bytes(8), {ATTACH_METHOD: BY_VALUE}, sizes))


def _properties(header: bytes, fixed: dict[int, int], sizes: dict[int, int] | None = None) -> bytes:
    """A property stream: the header, then 16-byte entries (tag, flags, value or size) per property."""
    readable_writable = 6
    out = [header]
    out += [struct.pack("<IIQ", tag, readable_writable, value) for tag, value in fixed.items()]
    out += [struct.pack("<IIII", tag, readable_writable, size, 0) for tag, size in (sizes or {}).items()]
    return b"".join(out)


def _string_size(text: str) -> int:
    """A string's size in its property entry: its UTF-16 bytes and the terminating NUL, as [MS-OXMSG] sizes it."""
    return len(text.encode("utf-16-le")) + 2


def _utf16(text: str, nul: bool) -> bytes:
    return text.encode("utf-16-le") + (b"\0\0" if nul else b"")
