"""numba kernels of the 8-bit group layer (:class:`rag.model.group_quant.Int8GroupLinear`), for VNNI's byte products.

A group of 32 weights of a row is stored as 8 words of 4 consecutive values
(``q[tile, group, j, row, 0:4]`` holds values ``4 j .. 4 j + 3``), each value
offset by 128 to an unsigned byte (``u = w + 128``, 0..255). With
activations quantized per group of 32 to int8 (:func:`quantize_activations`),
one AVX-512 VNNI instruction (``vpdpbusd``: unsigned bytes times signed bytes,
each 4 products summed into an int32 lane) multiplies 16 rows' words by a
word of 4 activations: 8 instructions a group for 16 rows, no widening, where
the 16-bit kernel of :mod:`rag.model.tile_kernels` needs two products, a
widening and two additions per pair of values. The offset comes back out
exactly: ``sum w x = sum u x - 128 sum x``, with ``sum x`` the activations'
own integer sum per group (:func:`activation_sums`), once per product.

The sums are exact int32 (``|sum u x| <= 32 * 255 * 128``), then the float
steps are those of the 16-bit kernel (``acc += d * dx * s``), so outputs are
its outputs (bit for bit as measured; up to the order the compiler gives the
float steps). CPUs without VNNI take the same sums from plain LLVM vector
operations on the same layout (pairs of 16-bit products, ``vpmaddwd``).
Each token row is computed by the same single-row code whatever the number
of rows, so a row's result does not depend on how many rows share a call
(speculative verification relies on it).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic

from rag.model.half import widen
from rag.model.tile_kernels import TILE, quantize_activations

OFFSET = 128  # stored byte = weight + OFFSET
_WORDS = 8  # words of 4 values in a group of 32
_LANES = 16  # int32 lanes of a 512-bit register: rows per instruction


def has_vnni() -> bool:
    """Whether the kernels are compiled for a CPU with AVX-512 VNNI."""
    features = numba.config.CPU_FEATURES
    if features is None:
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features().flatten()
    return "+avx512vnni" in features.split(",")


def to_words(q: np.ndarray) -> np.ndarray:
    """int8 (rows, G, 32) -> uint8 (ceil(rows / TILE), G, 8, TILE, 4): offset, zero-padded rows, 64-row tiles."""
    rows, groups, _ = q.shape
    # adding 128 to an int8 flips its top bit; the tile transpose moves 4-byte words, not bytes
    u = (np.ascontiguousarray(q).view(np.uint8) ^ np.uint8(OFFSET)).view(np.uint32).reshape(rows, groups, _WORDS)
    pad = -rows % TILE
    if pad:  # padding rows hold the weight 0
        u = np.concatenate([u, np.full((pad, groups, _WORDS), 0x80808080, np.uint32)])
    w = np.ascontiguousarray(u.reshape(-1, TILE, groups, _WORDS).transpose(0, 2, 3, 1))
    return w.view(np.uint8).reshape(*w.shape, 4)


def from_words(u: np.ndarray) -> np.ndarray:
    """uint8 (n, G, 8, 4) words of rows -> their int8 weights (n, G, 32)."""
    return (u.astype(np.int16) - OFFSET).astype(np.int8).reshape(*u.shape[:2], 32)


_VEC = ir.VectorType(ir.IntType(32), _LANES)


def _i64(v: int) -> ir.Constant:
    return ir.Constant(ir.IntType(64), v)


def _splat(builder: ir.IRBuilder, word: ir.Value) -> ir.Value:
    """An int32 value in every lane of a 512-bit vector."""
    undef = ir.Constant(_VEC, ir.Undefined)
    one = builder.insert_element(undef, word, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(one, undef, ir.Constant(_VEC, None))


def _dot_vnni(builder: ir.IRBuilder, acc: ir.Value, w: ir.Value, x: ir.Value) -> ir.Value:
    """acc + each lane's 4 unsigned bytes of ``w`` times the signed bytes of ``x``: one ``vpdpbusd``."""
    fn = builder.module.declare_intrinsic("llvm.x86.avx512.vpdpbusd.512", fnty=ir.FunctionType(_VEC, [_VEC] * 3))
    return builder.call(fn, [acc, w, x])


def _dot_plain(builder: ir.IRBuilder, acc: ir.Value, w: ir.Value, x: ir.Value) -> ir.Value:
    """:func:`_dot_vnni` in plain LLVM vector operations (LLVM lowers them to what the CPU has)."""
    wide = ir.VectorType(ir.IntType(32), 2 * _LANES)
    wb, xb = (builder.bitcast(v, ir.VectorType(ir.IntType(8), 4 * _LANES)) for v in (w, x))

    def every_other(v: ir.Value, first: int) -> ir.Value:
        n = v.type.count // 2
        return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), n), list(range(first, 2 * n, 2))))

    pairs = [
        builder.mul(builder.zext(every_other(wb, p), wide), builder.sext(every_other(xb, p), wide)) for p in (0, 1)
    ]
    pair = builder.add(*pairs)  # (32,): sums of 2 products
    return builder.add(acc, builder.add(every_other(pair, 0), every_other(pair, 1)))


def _group_sums(dot):  # noqa: ANN001, ANN202
    """An intrinsic: s int32 (>= TILE,) = one group's sums over a tile's rows, ``dot`` on 16 rows at a time.

    Its arguments: ``q`` the uint8 word array and ``base`` the byte offset of the group's (8, TILE, 4) block
    in it; ``xq`` the int8 activations and ``xbase`` the byte offset of the group's 32 values; ``s``.
    """

    def typer(typingctx, q, base, xq, xbase, s):  # noqa: ANN001, ANN202, ARG001
        def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
            qa, xa, sa = (context.make_array(t)(context, builder, a) for t, a in zip(signature.args[::2], args[::2]))
            qp = builder.gep(qa.data, [args[1]])
            xp = builder.bitcast(builder.gep(xa.data, [args[3]]), ir.IntType(32).as_pointer())
            acc = [ir.Constant(_VEC, None)] * (TILE // _LANES)  # 4 registers of 16 rows' sums
            for j in range(_WORDS):
                x = _splat(builder, builder.load(builder.gep(xp, [_i64(j)]), align=1))
                for k in range(TILE // _LANES):
                    at = builder.bitcast(builder.gep(qp, [_i64((j * TILE + k * _LANES) * 4)]), _VEC.as_pointer())
                    acc[k] = dot(builder, acc[k], builder.load(at, align=1), x)
            out = builder.bitcast(sa.data, _VEC.as_pointer())
            for k, a in enumerate(acc):
                builder.store(a, builder.gep(out, [_i64(k)]), align=4)
            return context.get_dummy_value()

        return types.none(q, base, xq, xbase, s), codegen

    return intrinsic(typer)


_sums_vnni_group, _sums_plain_group = _group_sums(_dot_vnni), _group_sums(_dot_plain)


@numba.njit(inline="always")
def _vnni_sums(q, t, g, xq, i, s) -> None:  # noqa: ANN001
    _sums_vnni_group(q, (t * q.shape[1] + g) * (_WORDS * TILE * 4), xq, i * xq.shape[1] + g * 32, s)


@numba.njit(inline="always")
def _plain_sums(q, t, g, xq, i, s) -> None:  # noqa: ANN001
    _sums_plain_group(q, (t * q.shape[1] + g) * (_WORDS * TILE * 4), xq, i * xq.shape[1] + g * 32, s)


@numba.njit(inline="always")
def _tiles(sums, q, d, xq, xd, xsum, t0, t1, col, out) -> None:  # noqa: ANN001
    # q uint8 (NT, G, 8, TILE, 4); d uint16 half bits (NT, G, TILE); xq int8 (T, K); xd float32 (T, G);
    # xsum int32 (T, G); out float32 (T, >= col + NT * TILE): tiles t0..t1-1 into the columns from ``col``,
    # each group's integer sums by ``sums`` (:func:`_vnni_sums` or :func:`_plain_sums`)
    G = q.shape[1]
    s = np.empty(TILE, np.int32)
    acc = np.empty(TILE, np.float32)
    dd = np.empty(TILE, np.float32)
    for t in range(t0, t1):
        for i in range(xq.shape[0]):
            acc[:] = 0
            for g in range(G):
                sums(q, t, g, xq, i, s)
                dx, off = xd[i, g], OFFSET * xsum[i, g]
                for n in range(TILE):
                    dd[n] = widen(d[t, g, n])
                for n in range(TILE):
                    acc[n] += dd[n] * dx * np.float32(s[n] - off)
            for n in range(TILE):
                out[i, col + t * TILE + n] = acc[n]


@numba.njit(fastmath=True, cache=True, nogil=True)
def q8w_tiles_vnni(q, d, xq, xd, xsum, t0, t1, col, out) -> None:  # noqa: ANN001
    """Tiles t0..t1-1 of a word tile stack times token rows xq into ``out``'s columns from ``col``, by VNNI."""
    _tiles(_vnni_sums, q, d, xq, xd, xsum, t0, t1, col, out)


@numba.njit(fastmath=True, cache=True, nogil=True)
def q8w_tiles_plain(q, d, xq, xd, xsum, t0, t1, col, out) -> None:  # noqa: ANN001
    """:func:`q8w_tiles_vnni` in plain vector operations, for any CPU."""
    _tiles(_plain_sums, q, d, xq, xd, xsum, t0, t1, col, out)


# the kernel the layers use: VNNI where the CPU has it (LLVM cannot select the instruction otherwise)
q8w_tiles = q8w_tiles_vnni if has_vnni() else q8w_tiles_plain


@numba.njit(fastmath=True, cache=True, nogil=True)
def activation_sums(xq: np.ndarray) -> np.ndarray:
    """int8 (T, K) quantized activations -> int32 (T, K // 32): each group's integer sum."""
    T, K = xq.shape
    out = np.zeros((T, K // 32), np.int32)
    for i in range(T):
        for k in range(K):
            out[i, k // 32] += np.int32(xq[i, k])
    return out


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def q8w_matmul(q: np.ndarray, d: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """out (M, NT * TILE) = x float32 (M, K) times an 8-bit word tile stack, each tile a part of numba's pool."""
    xq, xd, _ = quantize_activations(x)
    xsum = activation_sums(xq)
    for t in prange(q.shape[0]):
        q8w_tiles(q, d, xq, xd, xsum, t, t + 1, 0, out)


@numba.njit(parallel=True, cache=True, nogil=True)  # no fastmath: d * q as the file's values
def q8w_dequantize(q: np.ndarray, d: np.ndarray, out: np.ndarray) -> None:
    # q uint8 (NT, G, 8, TILE, 4); d uint16 half bits (NT, G, TILE); out float32 (NT * TILE, G * 32)
    NT, G = q.shape[:2]
    for t in prange(NT):
        for n in range(TILE):
            row = out[t * TILE + n]
            for g in range(G):
                dd = widen(d[t, g, n])
                for j in range(_WORDS):
                    for b in range(4):
                        row[g * 32 + 4 * j + b] = dd * np.float32(np.int32(q[t, g, j, n, b]) - OFFSET)
