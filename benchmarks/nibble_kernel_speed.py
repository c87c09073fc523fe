"""4- and 5-bit kernels, one thread: the 16-bit lanes kernels (q5/q4_tiles_plain) beside the VNNI ones.

Each kernel multiplies one token by a Q5_0 (or a 4-bit) matrix of random
nibbles, fifth bits and half scales (and minimums), as stored (5.5 or 4.5
bits a weight, unpacked to bytes in registers); the kernels run in turn
within one process (so load changes touch them alike), their outputs are
checked equal, and the best and median billions of weights per second are
written as JSON with the load average. Shapes: Qwen2.5-0.5B's gate/up
(4864 x 896) and down (896 x 4864) layers, both in the last-level cache.

    python -m benchmarks.nibble_kernel_speed [--smoke] [--out benchmarks/results/nibble-kernel-summary.json]
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.kernel_timing import alternate, write_summary
from rag.model.half import to_half
from rag.model.q5_kernels import q5_tiles_plain, q5_tiles_vnni
from rag.model.q8_kernels import activation_sums
from rag.model.tile_kernels import TILE, q4_tiles_plain, q4_tiles_vnni, quantize_activations
from rag.model.vnni import has_vnni

SHAPES = ((4864, 896), (896, 4864))


def _runners(rows: int, cols: int, seed: int = 0) -> dict:
    """name -> (a call of the kernel on one token, its output array)."""
    rng = np.random.default_rng(seed)
    nt, groups = -(-rows // TILE), cols // 32
    q = rng.integers(0, 256, (nt, groups, 16, TILE), dtype=np.uint8)
    h = rng.integers(0, 1 << 16, (nt, groups, 2, TILE), dtype=np.uint16)
    d = to_half(rng.uniform(0.001, 0.01, (nt, groups, TILE)))
    m = np.zeros((nt, 0, TILE), np.uint16)  # Q5_0: no minimum
    m4 = to_half(rng.uniform(-0.1, 0.0, (nt, groups, TILE)))
    xq, xd, xs = quantize_activations(rng.standard_normal((1, cols)).astype(np.float32))
    xsum = activation_sums(xq)
    five = {"q5_plain": q5_tiles_plain} | ({"q5_vnni": q5_tiles_vnni} if has_vnni() else {})
    four = {"q4_plain": q4_tiles_plain} | ({"q4_vnni": q4_tiles_vnni} if has_vnni() else {})
    outs = {name: np.empty((1, nt * TILE), np.float32) for name in five | four}

    def call(name: str):  # noqa: ANN202
        if name in five:
            return lambda: five[name](q, h, d, m, xq, xd, xs, xsum, 0, nt, 0, outs[name])
        return lambda: four[name](q, d, m4, xq, xd, xs, 0, nt, 0, outs[name])

    return {name: (call(name), outs[name]) for name in outs}


def measure(rows: int, cols: int, repeats: int) -> dict:
    """Best and median G weights/s per kernel, run in turn ``repeats`` times."""
    runners = _runners(rows, cols)
    for run, _ in runners.values():
        run()  # compile, and the outputs to compare
    agree = {}
    for name, (_, out) in runners.items():  # each against its family's 16-bit kernel
        ref = runners[name[:2] + "_plain"][1]
        agree[name] = float(np.abs(out - ref).max()) / float(np.spacing(np.abs(ref).max()))
    return alternate(runners, rows, cols, repeats, agree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds: the first shape, 3 repeats")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", default="benchmarks/results/nibble-kernel-summary.json")
    args = parser.parse_args()
    shapes = SHAPES[:1] if args.smoke else SHAPES
    write_summary(args.out, lambda: [measure(r, c, 3 if args.smoke else args.repeats) for r, c in shapes])


if __name__ == "__main__":
    main()
