"""Group sums of nibble-packed weights by VNNI: 4- and 5-bit values unpacked to bytes in registers.

The 4-bit (:mod:`rag.model.tile_kernels`) and 5-bit (:mod:`rag.model.q5_kernels`)
layers store a group of 32 values of a tile's rows as 16 byte planes of 64
rows (byte ``j`` holds value ``j`` low and value ``j + 16`` high) and, for
5 bits, two 16-bit words of inverted fifth bits per row (bit ``j`` of word 0
for value ``j``, of word 1 for ``j + 16``). ``vpdpbusd`` wants each int32
lane to hold 4 values of one row, so for ``j`` in 0..7 one byte shuffle
takes planes ``j`` and ``j + 8`` to words of values ``j, j + 8, j + 16, j + 24``:
the two low nibbles are masked in place and the two high ones shifted down
4 bits; the fifth bits of those values are bits ``j, j + 8, 16 + j, 24 + j`` of
the row's two bit words side by side, one shift from bit 4 of each byte. The
bytes are then unsigned 0..15 (4 bits) or ``v + 16`` in 0..31 (5 bits), and
the activations' word ``j`` is their values ``j, j + 8, j + 16, j + 24``.
Storage stays as it is (4.5 or 5.5 bits a weight); only registers see bytes.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from rag.model.vnni import LANES, VEC, i64, splat

_I32 = ir.IntType(32)


def _const(value: int) -> ir.Constant:
    return ir.Constant(VEC, [value] * LANES)


def _words(builder: ir.IRBuilder, planes: tuple, k: int, bits: ir.Value | None, j: int) -> ir.Value:
    """Rows 16 k .. 16 k + 15 of byte planes j and j + 8 as words of values j, j + 8, j + 16, j + 24.

    ``bits`` (the rows' inverted fifth bits, word 1 above word 0) makes them 5-bit values plus 16, else 4-bit.
    """
    tile = planes[0].type.count
    order = [16 * k + r + (tile if b % 2 else 0) for r in range(LANES) for b in range(4)]
    w = builder.bitcast(builder.shuffle_vector(*planes, ir.Constant(ir.VectorType(_I32, tile), order)), VEC)
    low = builder.and_(w, _const(0x00000F0F))  # nibbles of values j, j + 8
    high = builder.and_(builder.lshr(w, _const(4)), _const(0x0F0F0000))  # of values j + 16, j + 24
    u = builder.or_(low, high)
    if bits is None:
        return u
    # bits j, j + 8, 16 + j, 24 + j to bit 4 of bytes 0..3, where an inverted bit 0 adds 16
    moved = builder.shl(bits, _const(4 - j)) if j < 4 else builder.lshr(bits, _const(j - 4))
    return builder.or_(u, builder.and_(builder.xor(moved, _const(-1)), _const(0x10101010)))


def _emit(builder: ir.IRBuilder, dot: Callable, qp: ir.Value, hp: ir.Value | None, xp: ir.Value, sp: ir.Value) -> None:
    """s (tile,) int32 at ``sp`` = the group's sums over the tile's rows; ``qp`` the byte planes as vectors of
    a tile's bytes, ``hp`` the bit words as vectors of 16 (None: 4 bits), ``xp`` the 32 activations."""
    tile = qp.type.pointee.count
    x8 = builder.load(xp, align=1)  # word j: values j, j + 8, j + 16, j + 24
    order = ir.Constant(ir.VectorType(_I32, 32), [j + 8 * b for j in range(8) for b in range(4)])
    xw = builder.bitcast(builder.shuffle_vector(x8, x8, order), ir.VectorType(_I32, 8))
    quarters = range(tile // LANES)  # registers of 16 rows
    bits = [None] * len(quarters)
    if hp is not None:  # each row's two bit words side by side: values 0..15 low, 16..31 high
        for k in quarters:
            h0, h1 = (
                builder.zext(builder.load(builder.gep(hp, [i64(len(quarters) * b + k)]), align=2), VEC) for b in (0, 1)
            )
            bits[k] = builder.or_(h0, builder.shl(h1, _const(16)))
    acc = [ir.Constant(VEC, None)] * len(quarters)
    for j in range(8):
        planes = tuple(builder.load(builder.gep(qp, [i64(b)]), align=1) for b in (j, j + 8))
        x = splat(builder, builder.extract_element(xw, ir.Constant(_I32, j)))
        for k in quarters:
            acc[k] = dot(builder, acc[k], _words(builder, planes, k, bits[k], j), x)
    out = builder.bitcast(sp, VEC.as_pointer())
    for k, a in enumerate(acc):
        builder.store(a, builder.gep(out, [i64(k)]), align=4)


def _pointers(context, builder, signature, args, tile: int) -> list[ir.Value]:  # noqa: ANN001
    """The typed pointers of (array, element offset) argument pairs and the output array (the last)."""
    arrays = [context.make_array(t)(context, builder, a) for t, a in zip(signature.args[::2], args[::2])]
    kinds = [ir.VectorType(ir.IntType(8), tile), ir.VectorType(ir.IntType(16), LANES)][: len(arrays) - 2]
    kinds.append(ir.VectorType(ir.IntType(8), 32))
    at = [builder.bitcast(builder.gep(a.data, [o]), k.as_pointer()) for a, o, k in zip(arrays, args[1::2], kinds)]
    return [*at, arrays[-1].data]


def nibble_sums(dot: Callable, tile: int, fifth: bool):  # noqa: ANN201
    """An intrinsic: s int32 (tile,) = one group's integer sums over a tile's rows, by ``dot`` (a ``vpdpbusd``).

    4 bits (``fifth`` False): ``sums(q, base, xq, xbase, s)``, ``sum u x`` of the nibbles ``u``; 5 bits:
    ``sums(q, base, h, hbase, xq, xbase, s)``, ``sum (v + 16) x``. ``q`` is the uint8 plane array and ``base``
    the element offset of the group's (16, tile) block, ``h`` the uint16 bit words and ``hbase`` the offset
    of the group's (2, tile) block, ``xq`` the int8 activations and ``xbase`` the offset of the group's values.
    """

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        at = _pointers(context, builder, signature, args, tile)
        _emit(builder, dot, at[0], at[1] if fifth else None, at[-2], at[-1])
        return context.get_dummy_value()

    if fifth:

        def typer5(typingctx, q, base, h, hbase, xq, xbase, s):  # noqa: ANN001, ANN202, ARG001
            return types.none(q, base, h, hbase, xq, xbase, s), codegen

        return intrinsic(typer5)

    def typer4(typingctx, q, base, xq, xbase, s):  # noqa: ANN001, ANN202, ARG001
        return types.none(q, base, xq, xbase, s), codegen

    return intrinsic(typer4)
