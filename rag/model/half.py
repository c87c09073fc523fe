"""Scales kept as IEEE half precision (the GGUF's own fp16), read by the numba kernels.

numba has no float16 type, so a half is stored as its 16 bits (uint16) and
widened in the kernel by ``widen``: F16C's conversion instruction, or integer
operations on CPUs without it (where infinities and NaNs, never found in
scales, are not handled). Widening is exact, so results equal those of
float32 scales holding the same values.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_SUBNORMAL = np.float32(2.0**-24)  # the value of the last mantissa bit of a subnormal half


@intrinsic
def _as_float32(typingctx, bits):  # noqa: ANN001, ARG001
    """Reinterpret uint32 bits as a float32."""
    if bits != types.uint32:
        return None

    def codegen(context, builder, signature, args):  # noqa: ANN001, ARG001
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.uint32), codegen


@intrinsic
def _as_uint32(typingctx, value):  # noqa: ANN001, ARG001
    """Reinterpret float32 bits as a uint32."""
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):  # noqa: ANN001, ARG001
        return builder.bitcast(args[0], ir.IntType(32))

    return types.uint32(types.float32), codegen


@intrinsic
def _fpext_half(typingctx, bits):  # noqa: ANN001, ARG001
    """uint16 half bits -> float32 by LLVM's fpext (one vcvtph2ps with F16C)."""
    if bits != types.uint16:
        return None

    def codegen(context, builder, signature, args):  # noqa: ANN001, ARG001
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return types.float32(types.uint16), codegen


def has_f16c() -> bool:
    """Whether the kernels are compiled for a CPU with F16C (every AVX2 CPU has it)."""
    features = numba.config.CPU_FEATURES
    if features is None:
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features().flatten()
    return "+f16c" in features.split(",")


@numba.njit(inline="always", cache=True)
def _widen_f16c(half: np.uint16) -> np.float32:
    return _fpext_half(half)


@numba.njit(inline="always", cache=True)
def _widen_bits(half: np.uint16) -> np.float32:
    """The float32 value of half-precision bits, in integer operations and no branch (it vectorises).

    Normal halves move their exponent and mantissa bits into float32
    positions; subnormals are their mantissa times 2^-24. No rebiasing
    multiplication: a ``fastmath`` caller could reassociate it into its own
    products and overflow.
    """
    b = np.uint32(half)
    e = (b >> 10) & 0x1F
    mantissa = b & 0x3FF
    sign = (b & 0x8000) << 16
    normal = np.uint32(sign | ((e + 112) << 23) | (mantissa << 13))
    small = _as_uint32(np.float32(mantissa) * _SUBNORMAL) | sign
    keep = np.uint32(0) - np.uint32(e != 0)  # all ones for a normal half
    return _as_float32(np.uint32((normal & keep) | (small & ~keep)))


# The conversion the kernels use: the F16C instruction where the CPU has it (without it LLVM would call a
# runtime function that numba does not link, and crash), else the integer version.
widen = _widen_f16c if has_f16c() else _widen_bits


def to_half(values: np.ndarray) -> np.ndarray:
    """float32 values -> their nearest halves, as uint16 bits."""
    return np.asarray(values, dtype=np.float32).astype(np.float16).view(np.uint16)


def from_half(bits: np.ndarray) -> np.ndarray:
    """uint16 half bits -> float32 values."""
    return np.ascontiguousarray(bits).view(np.float16).astype(np.float32)
