"""Measurements: recall@k, latency percentiles, peak resident memory, SQuAD answer scores, and ranking metrics."""

from __future__ import annotations

import collections
import os
import re
import string
from pathlib import Path

import numpy as np

from rag.metrics import mrr_at, ndcg_at, recall_at_docs  # noqa: F401  (ranking metrics live with the library)


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean fraction of the true top-k ids found in the returned top-k.

    Args:
        found: int64 (nq, >=k) returned ids (-1 padding never matches).
        truth: int64 (nq, >=k) exact ids, nearest first.
    """
    k = min(k, found.shape[1], truth.shape[1])
    hits = 0
    for f, t in zip(found[:, :k], truth[:, :k]):
        hits += len(np.intersect1d(f[f >= 0], t, assume_unique=False))
    return hits / (k * found.shape[0])


def percentiles(seconds: list[float] | np.ndarray) -> dict[str, float]:
    arr = np.asarray(seconds, dtype=np.float64) * 1000.0
    if arr.size == 0:
        return {"p50_ms": 0.0, "p99_ms": 0.0}
    return {"p50_ms": float(np.percentile(arr, 50)), "p99_ms": float(np.percentile(arr, 99))}


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_kb(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    import resource

    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def peak_rss_mb() -> float:
    return _status_kb("VmHWM") / 1024.0


def rss_mb() -> float:
    return _status_kb("VmRSS") / 1024.0


def dir_bytes(path: str | os.PathLike[str]) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def best_threshold(pos: np.ndarray, neg: np.ndarray, values: np.ndarray | None = None) -> tuple[float, float]:
    """The threshold with the best balanced accuracy of ``pos >= t`` and ``neg < t``, and that accuracy.

    Thresholds are the midpoints between consecutive distinct ``values`` (default: the
    finite scores); an infinite score (a case decided whatever the threshold) counts in
    the accuracy only.
    """
    values = np.unique(np.concatenate([pos, neg]) if values is None else values)
    values = values[np.isfinite(values)]
    cuts = (values[1:] + values[:-1]) / 2
    best, best_acc = float(values[0]), 0.0
    for t in cuts:
        acc = ((pos >= t).mean() + (neg < t).mean()) / 2
        if acc > best_acc:
            best, best_acc = float(t), float(acc)
    return best, best_acc


# -- answers (the official SQuAD evaluation's normalisation) ------------------------


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def without_citations(text: str) -> str:
    return re.sub(r"\[\d+(?:,\s*\d+)*\]", " ", text)


def exact_match(prediction: str, answers: tuple[str, ...]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(a) for a in answers))


def token_f1(prediction: str, answers: tuple[str, ...]) -> float:
    pred = normalize_answer(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize_answer(answer).split()
        common = sum((collections.Counter(pred) & collections.Counter(gold)).values())
        if common:
            precision, recall = common / len(pred), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_answer(prediction: str, answers: tuple[str, ...]) -> float:
    padded = f" {normalize_answer(prediction)} "
    return float(any(f" {normalize_answer(a)} " in padded for a in answers))


def score(text: str, answers: tuple[str, ...]) -> dict:
    text = without_citations(text)
    return {"em": exact_match(text, answers), "f1": token_f1(text, answers), "contains": contains_answer(text, answers)}
