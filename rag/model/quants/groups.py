"""The integer form every ggml block format decodes to: values, integer scales and minimums per group of 32.

A weight is ``w = (d * sc) * q - (dmin * mn)``, evaluated in float32 in that
order (as ggml and ``gguf.quants`` do, so :meth:`QuantGroups.dequantize` is bit
for bit theirs):

* ``q``: the stored integer of each value, int8 (rows, G, 32), G = row_length // 32;
* ``sc``: an integer scale per 32 values (S = 1) or per 16 (S = 2, Q6_K), int8 (rows, G, S);
* ``d``: a float scale per block of ``per`` groups, float32 (rows, G // per): per = 8 for the
  256-value K-quants, 1 for the 32-value formats (whose ``sc`` is 1);
* ``mn``, ``dmin``: likewise an integer minimum per group and a float one per block, or None
  for symmetric formats. A 32-value format's additive minimum ``m`` is ``dmin = -m, mn = 1``.

``d`` and ``dmin`` hold half-precision values (they come from the file's fp16 fields).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QK = 32  # values per group


@dataclass(frozen=True)
class QuantGroups:
    q: np.ndarray  # int8 (rows, G, 32)
    sc: np.ndarray  # int8 (rows, G, S), S in (1, 2)
    d: np.ndarray  # float32 (rows, G // per)
    mn: np.ndarray | None = None  # int8 (rows, G)
    dmin: np.ndarray | None = None  # float32 (rows, G // per)

    @property
    def rows(self) -> int:
        return self.q.shape[0]

    @property
    def per(self) -> int:
        """Groups per float-scale block: 8 for K-quants, 1 for the 32-value formats."""
        return self.q.shape[1] // self.d.shape[1]

    def group_scales(self) -> np.ndarray:
        """``d * sc`` per group (and half-group): float32 (rows, G, S); exact in float32."""
        return np.repeat(self.d, self.per, axis=1)[..., None] * self.sc.astype(np.float32)

    def group_mins(self) -> np.ndarray | None:
        """``dmin * mn`` per group, float32 (rows, G), subtracted from the scaled values; None if symmetric."""
        if self.mn is None or self.dmin is None:
            return None
        return np.repeat(self.dmin, self.per, axis=1) * self.mn.astype(np.float32)

    def dequantize(self) -> np.ndarray:
        """float32 (rows, G * 32)."""
        rows, groups, _ = self.q.shape
        s = self.sc.shape[2]
        w = self.group_scales()[..., None] * self.q.reshape(rows, groups, s, QK // s).astype(np.float32)
        w = w.reshape(rows, groups, QK)
        mins = self.group_mins()
        if mins is not None:
            w -= mins[..., None]
        return w.reshape(rows, groups * QK)

    def take(self, rows: np.ndarray | slice) -> QuantGroups:
        """The groups of some rows (a permutation or a slice)."""
        pick = lambda a: None if a is None else a[rows]  # noqa: E731
        return QuantGroups(self.q[rows], self.sc[rows], self.d[rows], pick(self.mn), pick(self.dmin))

    def scale_rows(self, n: int, factor: float) -> QuantGroups:
        """The first ``n`` rows multiplied by ``factor`` (through the float scales; exact for powers of two)."""
        if n == 0 or factor == 1.0:
            return self
        d = self.d.copy()
        d[:n] *= np.float32(factor)
        dmin = None
        if self.dmin is not None:
            dmin = self.dmin.copy()
            dmin[:n] *= np.float32(factor)
        return QuantGroups(self.q, self.sc, d, self.mn, dmin)

    @staticmethod
    def concat(parts: list[QuantGroups]) -> QuantGroups:
        """Stack the rows of groups of one layout (same per, S and symmetry)."""
        cat = lambda name: (  # noqa: E731
            None if getattr(parts[0], name) is None else np.concatenate([getattr(p, name) for p in parts])
        )
        return QuantGroups(cat("q"), cat("sc"), cat("d"), cat("mn"), cat("dmin"))

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.q, self.sc, self.d, self.mn, self.dmin) if a is not None)
