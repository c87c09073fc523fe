"""LLVM pieces of the byte-product kernels (:mod:`rag.model.q8_kernels`, :mod:`rag.model.q5_kernels`).

numba's LLVM does not form AVX-512 VNNI's ``vpdpbusd`` (16 int32 lanes, each
adding 4 products of unsigned bytes by signed bytes) from loops, so the
kernels build their group sums as numba intrinsics from these pieces: the
instruction itself (:func:`dot_vnni`), the same sums in plain LLVM vector
operations for CPUs without it (:func:`dot_plain`), and the small helpers
both need. :func:`has_vnni` says which the CPU gets.
"""

from __future__ import annotations

import numba
from llvmlite import ir

LANES = 16  # int32 lanes of a 512-bit register
VEC = ir.VectorType(ir.IntType(32), LANES)


def has_vnni() -> bool:
    """Whether the kernels are compiled for a CPU with AVX-512 VNNI."""
    features = numba.config.CPU_FEATURES
    if features is None:
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features().flatten()
    return "+avx512vnni" in features.split(",")


def i64(v: int) -> ir.Constant:
    """An int64 constant (an index of ``gep``)."""
    return ir.Constant(ir.IntType(64), v)


def splat(builder: ir.IRBuilder, word: ir.Value) -> ir.Value:
    """An int32 value in every lane of a 512-bit vector."""
    undef = ir.Constant(VEC, ir.Undefined)
    one = builder.insert_element(undef, word, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(one, undef, ir.Constant(VEC, None))


def dot_vnni(builder: ir.IRBuilder, acc: ir.Value, w: ir.Value, x: ir.Value) -> ir.Value:
    """acc + each lane's 4 unsigned bytes of ``w`` times the signed bytes of ``x``: one ``vpdpbusd``."""
    fn = builder.module.declare_intrinsic("llvm.x86.avx512.vpdpbusd.512", fnty=ir.FunctionType(VEC, [VEC] * 3))
    return builder.call(fn, [acc, w, x])


def dot_plain(builder: ir.IRBuilder, acc: ir.Value, w: ir.Value, x: ir.Value) -> ir.Value:
    """:func:`dot_vnni` in plain LLVM vector operations (LLVM lowers them to what the CPU has)."""
    wide = ir.VectorType(ir.IntType(32), 2 * LANES)
    wb, xb = (builder.bitcast(v, ir.VectorType(ir.IntType(8), 4 * LANES)) for v in (w, x))

    def every_other(v: ir.Value, first: int) -> ir.Value:
        n = v.type.count // 2
        return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), n), list(range(first, 2 * n, 2))))

    pairs = [
        builder.mul(builder.zext(every_other(wb, p), wide), builder.sext(every_other(xb, p), wide)) for p in (0, 1)
    ]
    pair = builder.add(*pairs)  # (32,): sums of 2 products
    return builder.add(acc, builder.add(every_other(pair, 0), every_other(pair, 1)))
