"""The retrieval database and the (sequence, neighbours) pairs that train and evaluate the retrofit.

Text: a BEIR corpus (SciFact's ``corpus.jsonl``: title + abstract per document),
tokenized with the decoder's tokenizer. Documents are split once, by a seeded hash
of their id, into training documents (the database and the training sequences) and
held-out documents (evaluation sequences only; never trained on, never in the
clean database).

* **Chunks:** every document is cut into chunks of m tokens; a neighbour is a chunk
  and its continuation (r tokens, within the document).
* **Keys:** each chunk's text is embedded with the frozen MiniLM embedder and
  searched with our own Flat index (exact cosine).
* **Sequences:** windows of ``seq_len`` tokens that start at chunk boundaries, so a
  sequence's chunks are database chunks and their keys are already computed.
* **Exclusion:** a neighbour never overlaps the sequence itself. Training sequences take
  their neighbours from the training documents, their own document's other parts included
  (scope ``document``). A first run that excluded the own document learned a
  neighbour-independent domain adaptation: validation loss was the same with retrieved and
  with random neighbours (benchmarks/README.md "RETRO retrofit"). Evaluation neighbours never
  come from the sequence's document (scope ``clean``).
* **Deduplication (Norlund et al. 2023):** an evaluation sequence is *clean* when it
  shares no token 8-gram with any training document; the headline figures use clean
  sequences only.
* **Leakage, measured on purpose:** the *leaky* database adds the held-out documents
  themselves. Only neighbours that overlap the sequence's own span are excluded, so the
  rest of its document can be retrieved.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import ConfigError, NotFoundError
from indexes import create as create_index
from rag.rerank.cross_encoder import file_sha256  # the reranker's weights are hashed the same way

NGRAM = 8  # the overlap unit of the deduplication
SEARCH_DEPTH = 48  # candidates read per chunk before the exclusions
SCOPES = ("clean", "document", "leaky")  # where a sequence's neighbours may come from (see NeighbourSearch)


def held_out(doc_id: str, fraction: float, seed: int) -> bool:
    """Whether a document is held out: a seeded hash of its id, independent of file order."""
    digest = hashlib.sha256(f"{seed}:{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def read_corpus(root: Path) -> tuple[list[str], list[str]]:
    """(doc ids, texts) of ``root/corpus.jsonl``, each text ``title + " " + text``."""
    path = root / "corpus.jsonl"
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist: pass --data pointing at a BEIR folder (corpus.jsonl)")
    ids, texts = [], []
    with path.open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            ids.append(str(doc["_id"]))
            texts.append(f"{doc.get('title', '')} {doc['text']}".strip())
    return ids, texts


@dataclass
class Database:
    """Tokenized documents cut into chunks, with one MiniLM key per chunk.

    Attributes:
        tokens: int32, every document's tokens, concatenated.
        doc_start: int64 (n_docs + 1,): document d is tokens[doc_start[d]:doc_start[d + 1]].
        held_out: bool (n_docs,): evaluation documents.
        chunk_doc: int32 (n_chunks,); chunk_start: int64 (n_chunks,), offsets into ``tokens``.
        keys: float32 (n_chunks, dim), unit rows.
        chunk: m; meta: how it was built (data hash, split, embedder).
    """

    tokens: np.ndarray
    doc_start: np.ndarray
    held_out: np.ndarray
    chunk_doc: np.ndarray
    chunk_start: np.ndarray
    keys: np.ndarray
    chunk: int
    meta: dict

    def neighbour(self, c: int, r: int) -> np.ndarray:
        """Chunk ``c`` and its continuation: up to r tokens, never past its document's end."""
        start = int(self.chunk_start[c])
        end = min(start + r, int(self.doc_start[self.chunk_doc[c] + 1]))
        return self.tokens[start:end]

    def sequences(self, length: int, held: bool) -> np.ndarray:
        """Start offsets of the windows of ``length`` tokens (at chunk boundaries, not overlapping) of the
        training (held False) or held-out documents."""
        if length % self.chunk:
            raise ConfigError(f"sequence length {length} is not a multiple of the chunk length {self.chunk}")
        starts = []
        for d in np.flatnonzero(self.held_out == held):
            lo, hi = int(self.doc_start[d]), int(self.doc_start[d + 1])
            starts.extend(range(lo, hi - length + 1, length))
        return np.asarray(starts, dtype=np.int64)

    def chunk_at(self, offset: int) -> int:
        """The chunk that starts at token ``offset`` (sequences start at chunk boundaries)."""
        c = int(np.searchsorted(self.chunk_start, offset))
        if c >= len(self.chunk_start) or self.chunk_start[c] != offset:
            raise ConfigError(f"no chunk starts at token {offset}")
        return c

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {k: getattr(self, k) for k in ("tokens", "doc_start", "held_out", "chunk_doc", "chunk_start", "keys")}
        np.savez(path, meta=json.dumps(dict(self.meta, chunk=self.chunk)), **arrays)

    @classmethod
    def load(cls, path: Path) -> Database:
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in ("tokens", "doc_start", "held_out", "chunk_doc", "chunk_start", "keys")}
        return cls(**arrays, chunk=int(meta["chunk"]), meta=meta)


def build_database(
    root: Path, tokenizer, embed, chunk: int, fraction: float = 0.1, seed: int = 0, min_chunk: int = 8
) -> Database:
    """Tokenize, chunk and embed a BEIR corpus.

    Args:
        root: the BEIR folder.
        tokenizer: the decoder's tokenizer (``encode(text, add_bos=False)``, ``decode(ids)``).
        embed: texts -> float32 unit rows (the MiniLM embedder's ``embed``).
        chunk: m, tokens per chunk.
        fraction, seed: the held-out split.
        min_chunk: a document's last, shorter chunk is kept when it has at least this many tokens.
    """
    ids, texts = read_corpus(root)
    docs = [np.asarray(tokenizer.encode(t, add_bos=False), dtype=np.int32) for t in texts]
    doc_start = np.zeros(len(docs) + 1, dtype=np.int64)
    doc_start[1:] = np.cumsum([len(d) for d in docs])
    chunk_doc, chunk_start = [], []
    for d, toks in enumerate(docs):
        for off in range(0, len(toks), chunk):
            if len(toks) - off >= min(chunk, min_chunk):
                chunk_doc.append(d)
                chunk_start.append(int(doc_start[d]) + off)
    tokens = np.concatenate(docs) if docs else np.zeros(0, np.int32)
    chunk_start_arr = np.asarray(chunk_start, dtype=np.int64)
    texts_of_chunks = [
        tokenizer.decode(tokens[s : min(s + chunk, doc_start[d + 1])].tolist()) for d, s in zip(chunk_doc, chunk_start)
    ]
    keys = np.asarray(embed(texts_of_chunks), dtype=np.float32)
    meta = {
        "data": {"corpus.jsonl": file_sha256(root / "corpus.jsonl"), "documents": len(ids)},
        "split": {"held_out_fraction": fraction, "seed": seed, "rule": "sha256(f'{seed}:{doc_id}') < fraction"},
    }
    return Database(
        tokens,
        doc_start,
        np.asarray([held_out(i, fraction, seed) for i in ids]),
        np.asarray(chunk_doc, dtype=np.int32),
        chunk_start_arr,
        keys,
        chunk,
        meta,
    )


class NeighbourSearch:
    """k nearest chunks of each sequence chunk, through a Flat index over the database keys."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.index = create_index("Flat", db.keys.shape[1])
        self.index.add(db.keys, np.arange(len(db.keys), dtype=np.int64))
        self.clean = ~db.held_out[db.chunk_doc]  # chunks of training documents

    def __call__(self, starts: np.ndarray, length: int, k: int, r: int, scope: str = "clean") -> np.ndarray:
        """Neighbour chunk ids (n, C, k) of the sequences starting at ``starts``; -1 where none qualified.

        Scopes:

        * ``clean``: training documents' chunks, never the sequence's own document (evaluation).
        * ``document``: training documents' chunks, the sequence's own document included, except chunks
          whose neighbour span (the chunk and its continuation) overlaps the sequence (training).
        * ``leaky``: every document, held-out ones included, with the same overlap rule (the leak measured).
        """
        if scope not in SCOPES:
            raise ConfigError(f"unknown neighbour scope {scope!r}; use one of {', '.join(SCOPES)}")
        m = self.db.chunk
        C = length // m
        first = np.asarray([self.db.chunk_at(int(s)) for s in starts], dtype=np.int64)
        chunk_ids = first[:, None] + np.arange(C)[None, :]  # (n, C): a sequence's chunks are consecutive
        allow = None if scope == "leaky" else self.clean
        found = self.index.search(self.db.keys[chunk_ids.ravel()], SEARCH_DEPTH, allow=allow)
        out = np.full((len(starts), C, k), -1, dtype=np.int64)
        for row, cands in enumerate(found.ids.reshape(len(starts), C, -1)):
            seq_lo, seq_hi = int(starts[row]), int(starts[row]) + length
            doc = self.db.chunk_doc[first[row]]
            for u in range(C):
                kept = 0
                for c in cands[u]:
                    if c < 0:
                        break
                    if scope == "clean":
                        if self.db.chunk_doc[c] == doc:
                            continue
                    else:
                        lo = int(self.db.chunk_start[c])
                        if lo < seq_hi and lo + r > seq_lo:
                            continue
                    out[row, u, kept] = c
                    kept += 1
                    if kept == k:
                        break
        return out

    def random(self, n: int, C: int, k: int, seed: int) -> np.ndarray:
        """Random training-document chunks, (n, C, k): the control condition."""
        pool = np.flatnonzero(self.clean)
        return np.random.default_rng(seed).choice(pool, size=(n, C, k))


def with_continuations(db: Database, starts: np.ndarray, ids: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Training neighbours (n, C, k) where a seeded ``fraction`` of chunks u < C-1 have, as first neighbour,
    the sequence's own next chunk (chunk u+1 and its continuation).

    By the shift, the tokens that attend chunk u's neighbours predict chunk u+1's tokens, so such a
    neighbour holds the text to predict: the training-set overlap that RETRO learns to copy from
    (Norlund et al. 2023), given on purpose so the cross-attention learns to match and read neighbour
    tokens by content. Only training uses this; evaluation neighbours never overlap the sequence.
    """
    out = ids.copy()
    if fraction <= 0 or out.shape[1] < 2:
        return out
    first = np.asarray([db.chunk_at(int(s)) for s in starts], dtype=np.int64)
    pick = np.random.default_rng(seed).random((out.shape[0], out.shape[1] - 1)) < fraction
    rows, us = np.nonzero(pick)
    out[rows, us, 0] = first[rows] + us + 1  # a sequence's chunks are consecutive database chunks
    return out


def neighbour_tokens(db: Database, ids: np.ndarray, r: int, pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Chunk ids (..., k) -> tokens (..., k, r) int64 and valid (..., k, r) bool (-1: an empty neighbour)."""
    flat = ids.reshape(-1)
    tokens = np.full((len(flat), r), pad, dtype=np.int64)
    valid = np.zeros((len(flat), r), dtype=bool)
    for i, c in enumerate(flat):
        if c >= 0:
            t = db.neighbour(int(c), r)
            tokens[i, : len(t)] = t
            valid[i, : len(t)] = True
    return tokens.reshape(*ids.shape, r), valid.reshape(*ids.shape, r)


def ngram_hashes(tokens: np.ndarray, n: int = NGRAM) -> np.ndarray:
    """uint64 hashes of every n-gram of a token run (empty when shorter than n)."""
    t = tokens.astype(np.uint64)
    if len(t) < n:
        return np.zeros(0, dtype=np.uint64)
    h = np.zeros(len(t) - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * np.uint64(1_000_003) + t[j : len(t) - n + 1 + j]
    return h


def training_ngrams(db: Database) -> np.ndarray:
    """Sorted unique 8-gram hashes of every training document (n-grams never cross documents)."""
    parts = [ngram_hashes(db.tokens[db.doc_start[d] : db.doc_start[d + 1]]) for d in np.flatnonzero(~db.held_out)]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)


def shares_ngram(db: Database, starts: np.ndarray, length: int, known: np.ndarray) -> np.ndarray:
    """bool (n,): whether each sequence shares a token 8-gram with the training documents."""
    out = np.zeros(len(starts), dtype=bool)
    if len(known) == 0:
        return out
    for i, s in enumerate(starts):
        h = ngram_hashes(db.tokens[int(s) : int(s) + length])
        at = np.minimum(np.searchsorted(known, h), len(known) - 1)  # known is sorted and unique
        out[i] = bool((known[at] == h).any())
    return out
