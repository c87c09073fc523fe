"""The cost of one upload against the size of the collection: append a 20-chunk document to 0..1M vectors.

For each index spec and collection size ``n``, a base collection of ``n`` synthetic
unit vectors (384-d by default, seeded Gaussian directions) is built once and
cached as a version-1 store directory (one segment, one index, one manifest: the
layout every release reads). Then ``appends`` documents of ``batch`` vectors are
appended one at a time through ``VectorStore.append``, each timed from the call
to its return (data written, fsynced and published), in a hard-linked copy of
the base, so every run starts from the same collection.

Run it with the current tree for "after", and with ``--pythonpath`` set to a
checkout of an older commit for "before" (only ``VectorStore(root, dim, metric,
spec)`` and ``append(vectors, ids)`` are used, which every release has). With
background merges (the default of the current tree) a merge of small runs may
run beside later appends on the same cores; ``wait_for_merges`` is timed apart.

    git worktree add /tmp/before <older commit>
    python -m benchmarks.append_curve --sizes 0,10000,100000,1000000 --specs 'HNSW32;IVF1024,PQ48x8' \\
        --compare /tmp/before --rounds 2 --out benchmarks/results/append/compare.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 384
_BUILD_BLOCK = 50_000


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def min_train_size(config) -> int:
    """As ``rag.store.vectors.min_train_size`` (kept here: older checkouts define it elsewhere)."""
    need = 39 * getattr(config, "nlist", 1)
    if hasattr(config, "m") and hasattr(config, "nbits"):
        need = max(need, 39 * 2 ** int(config.nbits))
    return need


def base_dir(cache: Path, spec: str, n: int, dim: int, base_efc: int | None = None) -> Path:
    """A version-1 store of ``n`` vectors under ``spec`` (built once, then reused).

    ``base_efc`` builds an HNSW base graph with that ef_construction (to save hours at
    1M on two cores) and saves it under ``spec``, so appends insert with the spec's own.
    """
    import indexes

    root = cache / f"{spec.replace(',', '_')}-{dim}d-{n}"
    if (root / "manifest.json").is_file() or n == 0:
        root.mkdir(parents=True, exist_ok=True)
        return root
    tmp = root.with_name(root.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    x = unit_vectors(n, dim, seed=n)
    np.save(tmp / "seg-000001.npy", x)
    np.save(tmp / "seg-000001.ids.npy", np.arange(n, dtype=np.int64))
    build_spec = f"{spec},ef_construction={base_efc}" if base_efc and spec.startswith("HNSW") else spec
    index = indexes.create(build_spec, dim, "cosine")
    if not index.is_trained and n < min_train_size(index.config):
        index = indexes.create("Flat", dim, "cosine")  # what a store serves until it can train
    t = time.perf_counter()
    if not index.is_trained:
        cap = 256 * max(getattr(index.config, "nlist", 1), 256)
        index.train(x[np.sort(np.random.default_rng(0).choice(n, min(n, cap), replace=False))])
    for start in range(0, n, _BUILD_BLOCK):
        index.add(x[start : start + _BUILD_BLOCK], np.arange(start, min(n, start + _BUILD_BLOCK)))
        print(f"  {spec} base {min(n, start + _BUILD_BLOCK)}/{n} ({time.perf_counter() - t:.0f} s)", flush=True)
    index.save(str(tmp / "index-000001"))
    if build_spec != spec:
        meta = json.loads((tmp / "index-000001" / "meta.json").read_text())
        (tmp / "index-000001" / "meta.json").write_text(json.dumps(dict(meta, spec=spec, base_efc=base_efc)))
    (tmp / "manifest.json").write_text(json.dumps(v1_manifest(tmp, spec, n, dim)))
    build_file(root).write_text(json.dumps({"seconds": time.perf_counter() - t, "base_efc": base_efc}))
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return root


def v1_manifest(root: Path, spec: str, n: int, dim: int) -> dict:
    """The version-1 manifest of a base: one segment and one index (whose saved spec is the active one)."""
    active = json.loads((root / "index-000001" / "meta.json").read_text())["spec"]
    return {
        "format": "rag-vectors", "version": 1, "generation": 1, "dim": dim, "metric": "cosine",
        "index_spec": spec, "index": "index-000001", "count": n, "active_spec": active,
        "segments": [{"vectors": "seg-000001.npy", "ids": "seg-000001.ids.npy", "count": n}],
        "lexical": None, "analyzer": None,
    }  # fmt: skip


def build_file(root: Path) -> Path:
    """Where a base's build time is kept: beside its directory (a store removes files it does not name)."""
    return root.with_name(root.name + ".build.json")


def working_copy(root: Path, spec: str, n: int, dim: int) -> Path:
    """A copy of the base to append to, made of hard links (appends write new files and remove old
    ones, never change a file in place, so the base's files stay as they were)."""
    work = root.with_name(root.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(root, work, copy_function=os.link)
    if n:
        (work / "manifest.json").write_text(json.dumps(v1_manifest(work, spec, n, dim)))
    return work


def _files(root: Path) -> dict[tuple, int]:
    """(path, inode) -> size of every file under ``root``: what an append wrote is what is new after it."""
    out = {}
    for p in root.rglob("*"):
        try:
            st = p.stat()
        except FileNotFoundError:  # removed meanwhile by a publish
            continue
        if p.is_file():
            out[(str(p.relative_to(root)), st.st_ino)] = st.st_size
    return out


def search_ms(vs, queries: np.ndarray, k: int = 10) -> float | None:
    """Median milliseconds of one single-query search (None on an empty collection)."""
    if len(vs) == 0:
        return None
    times = []
    for q in queries:
        t = time.perf_counter()
        vs.search(q[None, :], k)
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 3)


def measure(root: Path, spec: str, n: int, dim: int, appends: int, batch: int) -> dict:
    from rag.store.vectors import VectorStore

    with tempfile.TemporaryDirectory() as warm:  # compile (or load) the kernels outside the timing
        VectorStore(Path(warm), dim, "cosine", spec).append(unit_vectors(batch, dim, 1), np.arange(batch))
    root = working_copy(root, spec, n, dim)
    t = time.perf_counter()
    vs = VectorStore(root, dim, "cosine", spec)
    open_s = time.perf_counter() - t
    docs = unit_vectors(appends * batch, dim, seed=10**9 + n)
    queries = unit_vectors(200, dim, seed=7)
    search_before = search_ms(vs, queries)
    times, written = [], []
    for i in range(appends):
        ids = np.arange(10**9 + i * batch, 10**9 + (i + 1) * batch, dtype=np.int64)
        files = _files(root)
        t = time.perf_counter()
        vs.append(docs[i * batch : (i + 1) * batch], ids)
        times.append(time.perf_counter() - t)
        written.append(sum(size for key, size in _files(root).items() if key not in files))
    t = time.perf_counter()
    if hasattr(vs, "wait_for_merges"):
        vs.wait_for_merges()
    drain_s = time.perf_counter() - t
    found = vs.search(docs[-1:], 1).ids[0, 0]
    search_after = search_ms(vs, queries)
    runs = len(vs.manifest.runs) if hasattr(vs, "manifest") else 1
    dir_bytes = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    shutil.rmtree(root)
    ms = [s * 1000 for s in times]
    return {
        "spec": spec,
        "n": n,
        "dim": dim,
        "batch": batch,
        "appends": appends,
        "append_ms_median": round(statistics.median(ms), 2),
        "append_ms_mean": round(statistics.fmean(ms), 2),
        "append_ms_max": round(max(ms), 2),
        "append_ms": [round(v, 2) for v in ms],
        "bytes_written_median": int(statistics.median(written)),
        "open_ms": round(open_s * 1000, 2),
        "merge_drain_ms": round(drain_s * 1000, 2),
        "search_ms_p50_before": search_before,
        "search_ms_p50_after": search_after,
        "runs_after": runs,
        "last_found": bool(found == 10**9 + appends * batch - 1),
        "dir_bytes_after": dir_bytes,
    }


def _one(spec: str, n: int, args: argparse.Namespace, pythonpath: str | None) -> dict:
    """One measurement in a fresh process (importing the store of ``pythonpath`` when given)."""
    cmd = [sys.executable, "-m", "benchmarks.append_curve", "--one", "--specs", spec, "--sizes", str(n),
           "--dim", str(args.dim), "--appends", str(args.appends), "--batch", str(args.batch),
           "--cache", str(args.cache), "--out", "-"]  # fmt: skip
    if pythonpath:
        cmd += ["--pythonpath", pythonpath]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(args: argparse.Namespace) -> list[dict]:
    """Before (``--compare`` checkout) and after (this tree), alternating in fresh processes, ``rounds`` each."""
    rows = []
    for spec in args.specs.split(";"):
        for n in (int(s) for s in args.sizes.split(",")):
            base_dir(args.cache, spec, n, args.dim, args.base_efc)  # built once, outside the timing
            for r in range(args.rounds):
                for label, path in (("before", args.compare), ("after", None)):
                    row = dict(_one(spec, n, args, path), label=label, round=r)
                    print(json.dumps({k: v for k, v in row.items() if k != "append_ms"}), flush=True)
                    rows.append(row)
    return rows


def curve(args: argparse.Namespace) -> list[dict]:
    """This tree only, the sizes alternating in fresh processes, ``rounds`` times: a disk that is
    slower at one moment (fsync times vary tenfold with other processes' writes) weighs on every size."""
    specs = args.specs.split(";")
    sizes = [int(s) for s in args.sizes.split(",")]
    for spec in specs:
        for n in sizes:
            base_dir(args.cache, spec, n, args.dim, args.base_efc)
    rows = []
    for r in range(args.rounds):
        for spec in specs:
            for n in sizes:
                row = dict(_one(spec, n, args, None), label="after, sizes in turn", round=r)
                print(json.dumps({k: v for k, v in row.items() if k != "append_ms"}), flush=True)
                rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="0,10000,100000")
    p.add_argument("--specs", default="HNSW32;IVF1024,PQ48x8")
    p.add_argument("--dim", type=int, default=DIM)
    p.add_argument("--appends", type=int, default=20)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "localrag" / "append-curve")
    p.add_argument("--pythonpath", default=None, help="import the store from this checkout (an older commit)")
    p.add_argument("--compare", default=None, help="a checkout of an older commit: measure it and this tree in turn")
    p.add_argument("--rounds", type=int, default=2, help="alternations per size with --compare or --curve")
    p.add_argument("--curve", action="store_true", help="this tree only, all sizes in turn, --rounds times")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--base-efc", type=int, default=None, help="ef_construction of HNSW base graphs (saves hours)")
    p.add_argument("--label", default="after")
    p.add_argument("--out", required=True)
    p.add_argument("--summarize", nargs="+", type=Path, help="result files to summarise into --out (a stem)")
    args = p.parse_args(argv)
    if args.summarize:
        from benchmarks.append_report import summarize

        summarize(args.summarize, Path(args.out))
        return
    if args.pythonpath:
        sys.path.insert(0, args.pythonpath)
        for name in [m for m in sys.modules if m.split(".")[0] in ("rag", "indexes")]:
            del sys.modules[name]
    if args.curve:
        rows = curve(args)
    elif args.compare:
        rows = compare(args)
    else:
        rows = []
        for spec in args.specs.split(";"):
            for n in (int(s) for s in args.sizes.split(",")):
                root = base_dir(args.cache, spec, n, args.dim, args.base_efc)
                row = dict(measure(root, spec, n, args.dim, args.appends, args.batch), label=args.label)
                build = build_file(root)
                if build.is_file():
                    row["base_build_s"] = round(json.loads(build.read_text())["seconds"], 1)
                print(json.dumps(row if args.one else {k: v for k, v in row.items() if k != "append_ms"}), flush=True)
                rows.append(row)
    if args.out != "-":
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
