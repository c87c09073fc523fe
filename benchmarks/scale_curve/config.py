"""Indexes of the scale curve, their labels and colours, and the recall targets."""

from __future__ import annotations

INDEXES = (
    "HNSW32",
    "IVFPQ",
    "hnswlib-M32",
    "faiss-HNSW32",
    "faiss-HNSW32-efC40",
    "faiss-IVFPQ",
    "faiss-IVFPQ-poly",
)
LABELS = {
    "HNSW32": "HNSW32 (ours)",
    "IVFPQ": "IVF-PQ48x8 (ours)",
    "hnswlib-M32": "hnswlib M=32",
    "faiss-HNSW32": "faiss HNSW32 (efC=200)",
    "faiss-HNSW32-efC40": "faiss HNSW32 (efC=40)",
    "faiss-IVFPQ": "faiss IVF-PQ48x8",
    "faiss-IVFPQ-poly": "faiss IVF-PQ48x8 (polysemous training)",
}
COLORS = {
    "HNSW32": "tab:blue",
    "IVFPQ": "tab:orange",
    "hnswlib-M32": "tab:green",
    "faiss-HNSW32": "tab:red",
    "faiss-HNSW32-efC40": "tab:pink",
    "faiss-IVFPQ": "tab:brown",
    "faiss-IVFPQ-poly": "tab:olive",
}
TARGET = 0.9
HIGH = 0.95  # the second recall target of the summary rows (HNSW goals are stated there)
FALLBACK = 0.85  # IVF-PQ48x8 without re-ranking tops out just under 0.9 here
QPS_KEY, LOW_KEY = f"qps@{TARGET}_interp", f"qps@{FALLBACK}_interp"
