"""8-bit group kernels, one thread: the 16-bit kernel (tile_kernels.q8_tiles) beside the word kernels (q8_kernels).

Each kernel multiplies one token by an int8 matrix of random Q8_0 integers and
half scales; the kernels run in turn within one process (so load changes
touch them alike), their outputs are checked equal, and the best and median
billions of weights per second are written as JSON with the load average.
Shapes: Qwen2.5-0.5B's FFN (9728 x 896, in the last-level cache) and its tied
output layer (151936 x 896, 137M weights, out of cache).

    python -m benchmarks.q8_kernel_speed [--smoke] [--out benchmarks/results/q8-kernel-summary.json]
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.kernel_timing import alternate, write_summary
from rag.model.group_quant import _tiles
from rag.model.half import to_half
from rag.model.q8_kernels import activation_sums, has_vnni, q8w_tiles_plain, q8w_tiles_vnni, to_words
from rag.model.tile_kernels import TILE, q8_tiles, quantize_activations

SHAPES = ((9728, 896), (151936, 896))


def _runners(rows: int, cols: int, seed: int = 0) -> dict:
    """name -> (a call of the kernel on one token, its output array)."""
    rng = np.random.default_rng(seed)
    q = rng.integers(-127, 128, (rows, cols // 32, 32), dtype=np.int8)
    d = _tiles(to_half(rng.uniform(0.001, 0.01, (rows, cols // 32))))
    old, words = _tiles(q), to_words(q)
    xq, xd, _ = quantize_activations(rng.standard_normal((1, cols)).astype(np.float32))
    xsum, nt = activation_sums(xq), d.shape[0]
    outs = {name: np.empty((1, nt * TILE), np.float32) for name in ("q8_tiles", "q8w_plain", "q8w_vnni")}
    runs = {
        "q8_tiles": lambda: q8_tiles(old, d, xq, xd, 0, nt, 0, outs["q8_tiles"]),
        "q8w_plain": lambda: q8w_tiles_plain(words, d, xq, xd, xsum, 0, nt, 0, outs["q8w_plain"]),
    }
    if has_vnni():
        runs["q8w_vnni"] = lambda: q8w_tiles_vnni(words, d, xq, xd, xsum, 0, nt, 0, outs["q8w_vnni"])
    return {name: (run, outs[name]) for name, run in runs.items()}


def measure(rows: int, cols: int, repeats: int) -> dict:
    """Best and median G weights/s per kernel, run in turn ``repeats`` times."""
    runners = _runners(rows, cols)
    for run, _ in runners.values():
        run()  # compile, and the outputs to compare
    ref = runners["q8_tiles"][1]
    scale = float(np.spacing(np.abs(ref).max()))
    agree = {name: float(np.abs(out - ref).max()) / scale for name, (_, out) in runners.items()}
    return alternate(runners, rows, cols, repeats, agree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds: the small shape, 3 repeats")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results/q8-kernel-summary.json")
    args = parser.parse_args()
    shapes = SHAPES[:1] if args.smoke else SHAPES
    write_summary(args.out, lambda: [measure(r, c, 3 if args.smoke else args.repeats) for r, c in shapes])


if __name__ == "__main__":
    main()
