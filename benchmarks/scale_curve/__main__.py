"""``python -m benchmarks.scale_curve``: run one index (``--run``) or summarise every run."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from benchmarks.scale_curve import __doc__ as PACKAGE_DOC
from benchmarks.scale_curve.config import INDEXES
from benchmarks.scale_curve.report import summarise
from benchmarks.scale_curve.run import run_one


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=PACKAGE_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=Path("benchmarks/results/scale"))
    p.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/scale-curve"), help="stem of the summary and plot"
    )
    p.add_argument("--run", metavar="DATASET", help="run one index on this dataset (synthetic-N[-dD]) instead")
    p.add_argument("--index", choices=INDEXES, help="the index to run (with --run)")
    p.add_argument("--cache", type=Path, default=Path("/tmp/scale-data"), help="dataset arrays cache (with --run)")
    p.add_argument("--repeats", type=int, default=2, help="single-thread passes per sweep point, best kept")
    args = p.parse_args(argv)
    if args.run:
        if not re.fullmatch(r"synthetic-\d+(-d\d+)?", args.run) or not args.index:
            p.error("--run takes synthetic-N[-dD] and needs --index")
        s = run_one(args.run, args.index, args.results, args.cache, args.repeats)
        print(json.dumps(s["table"], indent=1))
        return 0
    summarise(args.results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
