"""The cached retrieval database, its training batches and the per-token losses of the retrofitted decoder.

Shared by the training run (:mod:`rag.training.retro`) and the perplexity evaluation
(:mod:`rag.retro.evaluate`), so that both read the same windows the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rag.model.retro import RetroConfig, Retrofit
from rag.retro.data import Database, build_database, neighbour_tokens
from rag.retro.recipe import Recipe

CACHE = Path("benchmarks/results/cache")


def load_database(data: Path, config: RetroConfig, recipe: Recipe, cache: Path = CACHE) -> Database:
    """The cached database of ``data`` for this chunk length and split, built (minutes) when missing."""
    from ingest.embed import Embedder
    from rag.model.gguf_file import GGUFFile, default_gguf_path
    from rag.model.tokenizer import GGUFTokenizer
    from rag.rerank.cross_encoder import file_sha256

    embedder = Embedder()
    tag = file_sha256(data / "corpus.jsonl")[:12]
    path = (
        cache / f"retro-db-{tag}-m{config.chunk}-h{recipe.held_out_fraction}-s{recipe.seed}-{embedder.model_name}.npz"
    )
    if path.is_file():
        return Database.load(path)
    with GGUFFile(default_gguf_path()) as f:
        tokenizer = GGUFTokenizer(f.metadata)
    print(f"building the retrieval database of {data} (cached at {path})", file=sys.stderr)
    db = build_database(data, tokenizer, embedder.embed, config.chunk, recipe.held_out_fraction, recipe.seed)
    db.meta["embedder"] = embedder.model_name
    db.save(path)
    return db


def batch_of(db: Database, starts: np.ndarray, ids: np.ndarray, config: RetroConfig, recipe: Recipe):
    """Tokens (B, T) and the fixed neighbours (tokens, valid) of chunks 0..C-2 (the last chunk's are never read
    by a position that has a target)."""
    tokens = torch.from_numpy(np.stack([db.tokens[s : s + recipe.seq_len] for s in starts]).astype(np.int64))
    nt, nv = neighbour_tokens(db, ids[:, :-1], config.neighbour_len)
    return tokens, (torch.from_numpy(nt), torch.from_numpy(nv))


def token_losses(model, retrofit: Retrofit, tokens: torch.Tensor, fixed) -> torch.Tensor:
    """(B, T - 1) next-token cross-entropy of each position; ``fixed`` None runs the base alone."""
    context = retrofit.context(model, fixed=fixed) if fixed is not None else None
    logits = model(tokens, context=context)[:, :-1]
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), reduction="none")
    return nll.reshape(tokens.shape[0], -1)
