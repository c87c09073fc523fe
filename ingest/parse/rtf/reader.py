"""The RTF tokenizer and its state: groups, destinations, control words, code pages (see the package docstring)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ingest.errors import DocumentParseError

from .output import Output

MAX_DEPTH = 1_000  # Word nests a few dozen groups at most

_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\([^a-zA-Z'])|([{}])|[\r\n]+|([^\\{}\r\n]+)"
)
# Destinations whose text is not the document's (fonttbl and stylesheet are read, not shown).
_SKIPPED = frozenset(
    b"fonttbl colortbl stylesheet pict object objdata header headerl headerr headerf footer footerl "
    b"footerr footerf fldinst bkmkstart bkmkend listtable listoverridetable revtbl rsidtbl generator "
    b"themedata colorschememapping latentstyles datastore xmlnstbl filetbl private pgdsctbl nonshppict "
    b"shpinst annotation atnid atnauthor fldtype".split()
)
_SYMBOLS = {b"~": "\u00a0", b"_": "\u2011", b"-": "", b"{": "{", b"}": "}", b"\\": "\\", b"\t": "\t"}
_WORDS = {
    b"tab": "\t", b"line": "\n", b"emdash": "\u2014", b"endash": "\u2013", b"bullet": "\u2022",
    b"lquote": "\u2018", b"rquote": "\u2019", b"ldblquote": "\u201c", b"rdblquote": "\u201d",
    b"emspace": " ", b"enspace": " ", b"qmspace": " ", b"nestcell": " ",
}  # fmt: skip
# \fcharset -> code page.
_CHARSETS = {
    0: "cp1252", 2: "cp1252", 77: "mac_roman", 128: "cp932", 129: "cp949", 134: "gbk", 136: "big5",
    161: "cp1253", 162: "cp1254", 163: "cp1258", 177: "cp1255", 178: "cp1256", 186: "cp1257",
    204: "cp1251", 222: "cp874", 238: "cp1250",
}  # fmt: skip
_BREAKS = frozenset((b"par", b"sect", b"page", b"cell", b"row"))
_HEADING_STYLE = re.compile(r"^heading\s*([1-9])\b", re.IGNORECASE)


@dataclass(frozen=True)
class _State:
    """What a group inherits: where its text goes, the fallback count of ``\\u`` and the code page."""

    sink: str = "body"  # body, footnote, skip, fonttbl, stylesheet
    uc: int = 1
    codepage: str = "cp1252"


class Reader:
    """Tokenises RTF and feeds decoded text and structure to an ``_Output``."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.out = Output()
        self.state = _State()
        self.stack: list[_State] = []
        self.fonts: dict[int, str] = {}
        self.styles: dict[int, int] = {}  # style number -> heading level
        self.font = self.style = 0
        self._bytes = bytearray()
        self._units: list[int] = []
        self._skip = 0  # fallback characters still to skip after \uN
        self._group_start = False  # the next control word is the group's first (a destination)

    def read(self, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            m = _TOKEN.match(data, pos)
            if m is None:  # a lone backslash at the end
                break
            pos = m.end()
            word, arg, hexbyte, symbol, brace, text = m.groups()
            if word == b"bin" and arg:
                pos += max(int(arg), 0)  # binary data, never text
            elif self._skip and (word or hexbyte or text):
                self._consume_fallback(text)
            elif word is not None:
                self.control(word, int(arg) if arg else None)
            elif hexbyte is not None:
                self._flush_units()
                self._bytes.append(int(hexbyte, 16))
            elif symbol is not None:
                self.symbol(symbol)
            elif brace is not None:
                self.group(brace == b"{")
            elif text is not None:
                self._flush_units()
                self._bytes.extend(text)
            if word is None and brace is None and symbol != b"*":
                self._group_start = False  # text before any control word: the group is no destination
        self.flush()
        self.out.end_paragraph()

    def _consume_fallback(self, text: bytes | None) -> None:
        if text and len(text) > self._skip:
            self._flush_units()
            self._bytes.extend(text[self._skip :])
        self._skip = max(0, self._skip - (len(text) if text else 1))

    def group(self, opening: bool) -> None:
        self.flush()
        self._skip = 0
        if opening:
            if len(self.stack) >= MAX_DEPTH:
                raise DocumentParseError(f"{self.filename} nests groups deeper than {MAX_DEPTH}; it is not an RTF file")
            self.stack.append(self.state)
            self._group_start = True
        elif self.stack:
            if self.state.sink == "stylesheet" and self.stack[-1].sink == "stylesheet":
                self._end_style()
            self.state = self.stack.pop()

    def control(self, word: bytes, arg: int | None) -> None:
        first, self._group_start = self._group_start, False
        if first and word in (b"info", b"title") and self.state.sink in ("body", "info"):
            self.flush()
            self.state = replace(self.state, sink="info" if word == b"info" else "title")
            return
        if first and (word in _SKIPPED or self.state.sink in ("ignorable", "info")):
            self.flush()
            sink = word.decode() if word in (b"fonttbl", b"stylesheet") else "skip"
            self.state = replace(self.state, sink=sink if self.state.sink != "skip" else "skip")
            return
        if self.state.sink in ("fonttbl", "stylesheet"):
            self._table_control(word, arg)
        elif word == b"footnote" and self.state.sink == "body":
            self.flush()
            self.state = replace(self.state, sink="footnote")
            self.out.start_footnote()
        elif word == b"u" and arg is not None:
            if self._bytes:
                self.flush()
            self._units.append(arg % 65536)
            self._skip = self.state.uc
        else:
            self._format_control(word, arg)

    def _format_control(self, word: bytes, arg: int | None) -> None:
        if word == b"uc" and arg is not None:
            self.state = replace(self.state, uc=max(arg, 0))
        elif word == b"ansicpg" and arg:
            self.state = replace(self.state, codepage=_codec(f"cp{arg}"))
        elif word == b"f" and arg is not None:
            self.flush()
            self.state = replace(self.state, codepage=self.fonts.get(arg, self.state.codepage))
        elif word in _WORDS:
            self.emit(_WORDS[word])
        elif word in _BREAKS:
            self.flush()
            self.out.structure(word.decode(), self.state.sink)
        elif self.state.sink != "body":
            return  # paragraph properties inside a footnote must not change the body's paragraph
        elif word == b"pard":
            self.out.level, self.out.in_table = None, False
        elif word == b"intbl":
            self.out.in_table = True
        elif word == b"outlinelevel" and arg is not None and 0 <= arg <= 8:
            self.out.level = arg + 1
        elif word == b"s" and arg is not None and arg in self.styles:
            self.out.level = self.styles[arg]

    def _table_control(self, word: bytes, arg: int | None) -> None:
        """Control words inside the font table (font -> code page) and the stylesheet (style -> name)."""
        if word == b"f" and arg is not None:
            self.font = arg
        elif word == b"fcharset" and arg is not None:
            self.fonts[self.font] = _CHARSETS.get(arg, self.state.codepage)
        elif word == b"s" and arg is not None:
            self.style, self._bytes = arg, bytearray()

    def _end_style(self) -> None:
        name = self._bytes.decode("latin-1").split(";", 1)[0].strip()
        if match := _HEADING_STYLE.match(name):
            self.styles[self.style] = int(match.group(1))
        self._bytes = bytearray()

    def symbol(self, symbol: bytes) -> None:
        if symbol == b"*":
            if self._group_start:
                self.state = replace(self.state, sink="ignorable" if self.state.sink != "skip" else "skip")
            return
        if symbol in (b"\n", b"\r"):
            self.flush()
            self.out.structure("par", self.state.sink)
        elif symbol in _SYMBOLS:
            self.emit(_SYMBOLS[symbol])

    def emit(self, text: str) -> None:
        self.flush()
        self.out.write(text, self.state.sink)

    def flush(self) -> None:
        """Decode the pending ``\\'xx`` bytes and ``\\u`` units into the current sink."""
        self._flush_units()
        if self._bytes and self.state.sink not in ("stylesheet",):
            text = self._bytes.decode(self.state.codepage, "replace")
            self._bytes = bytearray()
            self.out.write(text, self.state.sink)

    def _flush_units(self) -> None:
        if self._units:
            raw = b"".join(unit.to_bytes(2, "little") for unit in self._units)
            self._units = []
            self.out.write(raw.decode("utf-16-le", "replace"), self.state.sink)


def _codec(name: str) -> str:
    import codecs

    try:
        return codecs.lookup(name).name
    except LookupError:
        return "cp1252"
