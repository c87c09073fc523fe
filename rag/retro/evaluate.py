"""Perplexity of held-out text with retrieved, random or no neighbours (``rag eval retro``).

Sequences come from the held-out documents (never trained on, never in the clean database).
They run through the quantized base with the trained retrofit attached. Conditions:

* ``none``: no neighbours, so the CCA adds nothing (the base model exactly);
* ``retrieved``: each chunk's k nearest training-document chunks (MiniLM + Flat);
* ``random``: k random training-document chunks per chunk (the control);
* ``leaky``: the nearest chunks of a database that also holds the held-out documents (only
  neighbours overlapping the sequence's own span are excluded): the leakage Norlund et al. measured.

Subsets: ``clean`` sequences share no token 8-gram with any training document (the headline);
``all`` keeps every held-out sequence. Per condition: perplexity and bits per byte over every
predicted token, and over the tokens that can see neighbours (positions from m - 1 on). Effect
size: the per-sequence difference in mean NLL (none minus retrieved), with a 95% bootstrap
interval and the share of sequences it improves; ``retrieved_vs_random`` is the same
difference between random and retrieved neighbours, the part that retrieval itself explains.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from rag.model.retro import Retrofit
from rag.retro.batches import batch_of, load_database, token_losses
from rag.retro.data import NeighbourSearch, shares_ngram, training_ngrams
from rag.retro.recipe import Recipe

CONDITIONS = ("none", "retrieved", "random", "leaky")


def token_nll(model, retrofit: Retrofit, tokens: torch.Tensor, fixed) -> np.ndarray:
    """(B, T - 1) negative log-likelihood of each next token, as float64; ``fixed`` None: no neighbours."""
    with torch.inference_mode():
        return token_losses(model, retrofit, tokens, fixed).numpy().astype(np.float64)


def summarize(nll: np.ndarray, nbytes: np.ndarray, first: int) -> dict:
    """Perplexity and bits per byte of (n, T - 1) token NLLs; ``first``: the first target that sees neighbours."""
    out = {}
    for name, sl in (("all_tokens", slice(None)), ("visible_tokens", slice(first, None))):
        total, count, b = nll[:, sl].sum(), nll[:, sl].size, nbytes[:, sl].sum()
        out[name] = {
            "ppl": round(math.exp(total / count), 4),
            "bpb": round(total / math.log(2) / b, 4),
            "tokens": int(count),
        }
    return out


def effect(none: np.ndarray, other: np.ndarray, seed: int = 0) -> dict:
    """Per-sequence mean NLL of ``none`` minus ``other`` (positive: ``other`` predicts better)."""
    diff = none.mean(1) - other.mean(1)
    rng = np.random.default_rng(seed)
    boot = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(2000)]
    return {
        "mean_nll_reduction": round(float(diff.mean()), 5),
        "ci95": [round(float(np.percentile(boot, 2.5)), 5), round(float(np.percentile(boot, 97.5)), 5)],
        "sequences_improved": round(float((diff > 0).mean()), 3),
        "relative_ppl_change": round(float(math.exp(-diff.mean()) - 1), 5),
    }


def evaluate(data: Path, weights: Path, sample: int = 200, batch: int = 8, quant: str = "int4", log=print) -> dict:
    """Perplexity of ``sample`` held-out sequences (seeded) per condition and subset; see the module docstring."""
    from rag.model import load_gguf

    retrofit = Retrofit.load(weights)
    config = retrofit.config
    recipe = Recipe(**{k: v for k, v in retrofit.meta.get("recipe", {}).items() if k in Recipe.__dataclass_fields__})
    db = load_database(data, config, recipe)
    model, tokenizer = load_gguf(quant=quant)
    retrofit.attach(model)
    T, m = recipe.seq_len, config.chunk
    starts = db.sequences(T, held=True)
    rng = np.random.default_rng(0)
    starts = np.sort(rng.choice(starts, size=min(sample, len(starts)), replace=False))
    leaked = shares_ngram(db, starts, T, training_ngrams(db))
    chosen = _neighbours(db, starts, T, config)
    token_bytes = tokenizer.token_bytes
    targets = np.stack([db.tokens[s + 1 : s + T] for s in starts])
    nbytes = np.vectorize(lambda t: len(token_bytes[t]))(targets).astype(np.float64)
    arrays = _losses(model, retrofit, db, starts, chosen, config, recipe, batch, log)
    report: dict = {
        "data": str(data),
        "weights": str(weights),
        "quant": quant,
        "sequences": len(starts),
        "clean_sequences": int((~leaked).sum()),
        "seq_len": T,
        "first_visible_target": m - 1,
        "subsets": {},
    }
    for subset, rows in (("clean", ~leaked), ("all", np.ones(len(starts), dtype=bool))):
        report["subsets"][subset] = _subset({c: a[rows] for c, a in arrays.items()}, nbytes[rows], m - 1)
    clean = report["subsets"]["clean"]
    for c in ("none", "retrieved", "random"):  # the headline keys: clean sequences, every predicted token
        report[f"ppl_{c}"] = clean[c]["all_tokens"]["ppl"]
        report[f"bpb_{c}"] = clean[c]["all_tokens"]["bpb"]
    report["ppl_leaky"] = clean["leaky"]["all_tokens"]["ppl"]
    retrofit.detach(model)
    return report


def _neighbours(db, starts: np.ndarray, T: int, config) -> dict[str, np.ndarray]:
    """Each sequence's neighbour chunk ids per condition that has neighbours (retrieved, random, leaky)."""
    search = NeighbourSearch(db)
    k, r = config.neighbours, config.neighbour_len
    return {
        "retrieved": search(starts, T, k, r),
        "random": search.random(len(starts), T // config.chunk, k, seed=1),
        "leaky": search(starts, T, k, r, scope="leaky"),
    }


def _losses(model, retrofit, db, starts, chosen, config, recipe, batch: int, log) -> dict[str, np.ndarray]:
    """(len(starts), T - 1) token NLLs per condition, ``batch`` sequences at a time (progress to ``log``)."""
    nll: dict[str, list[np.ndarray]] = {c: [] for c in CONDITIONS}
    t0 = time.perf_counter()
    for i in range(0, len(starts), batch):
        sl = slice(i, i + batch)
        for name, ids in chosen.items():
            tokens, fixed = batch_of(db, starts[sl], ids[sl], config, recipe)
            nll[name].append(token_nll(model, retrofit, tokens, fixed))
        nll["none"].append(token_nll(model, retrofit, tokens, None))
        log(f"{min(i + batch, len(starts))}/{len(starts)} sequences, {time.perf_counter() - t0:.0f} s")
    return {c: np.concatenate(v) for c, v in nll.items()}


def _subset(arrays: dict[str, np.ndarray], nbytes: np.ndarray, first: int) -> dict:
    """Perplexity per condition and the effects between them, over one subset's rows of ``arrays``."""
    part = {c: summarize(arrays[c], nbytes, first) for c in CONDITIONS}
    part["effect_retrieved"] = effect(arrays["none"], arrays["retrieved"])
    part["effect_random"] = effect(arrays["none"], arrays["random"])
    part["effect_leaky"] = effect(arrays["none"], arrays["leaky"])
    # what retrieval itself adds: retrieved against random neighbours, sequence by sequence
    part["retrieved_vs_random"] = effect(arrays["random"], arrays["retrieved"])
    return part
