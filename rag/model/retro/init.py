"""A copy-friendly start for the retrofit: each CCA module begins as an induction head over its neighbours.

Trained from random weights, the cross-attention never found the neighbours' content within a CPU
budget (benchmarks/README.md, "RETRO retrofit", runs 1-7): attention starts uniform, so its output
is a near-constant average, and the gradient that would make it match tokens is second order.
:func:`match_init` writes the weights of a mechanism that already reads content, which training
then tunes (the gates still start at zero, so the decoder is unchanged until they move):

* **Encoder:** its residual branches and learned positions start at zero, so a neighbour token's
  state is a function of that token alone (its embedding, normed and projected). That makes every
  fit below one over the vocabulary, not over the few thousand tokens of calibration text.
* **Keys and values:** both are the top principal directions of the states (centred on their mean,
  weighted half by the calibration text's token counts and half uniformly over the vocabulary),
  whitened. With ``value_shift`` s >= 1 the value read at key j is the state of token j + s.
* **Queries:** a ridge regression, per layer, from the decoder's residual stream at token t to the
  key of token t itself, scaled per head so that a token's own key scores ``sharpness`` above a random
  other token's. A query thus finds where its current token occurs in a neighbour and reads the token
  after it. This is the one fit that needs text in context: the calibration windows.
* **Output:** a ridge regression, over the vocabulary, from the value of token y to the residual
  direction that raises y's logit (through the final norm and the tied output matrix), scaled so the
  layers together raise a copied token's logit by about ``nats`` above the mean logit.

Everything is fitted on calibration text from the training split (the trainer passes its
calibration windows) and on the model's own matrices; nothing here sees evaluation text.
"""

from __future__ import annotations

import math

import torch

from core.errors import ConfigError


def _ridge(x: torch.Tensor, y: torch.Tensor, strength: float) -> torch.Tensor:
    """W minimising |x W - y|^2 + strength * mean(diag(x'x)) |W|^2; x (n, a), y (n, b) -> (a, b)."""
    xtx = x.T @ x
    reg = strength * xtx.diagonal().mean() * torch.eye(x.shape[1], dtype=x.dtype)
    return torch.linalg.solve(xtx + reg, x.T @ y)


def _own_key_accuracy(q: torch.Tensor, k: torch.Tensor, others: int = 63) -> float:
    """How often a query's own key (row i of k) outscores ``others`` random keys of the same set."""
    g = torch.Generator().manual_seed(1)
    idx = torch.randint(0, k.shape[0], (q.shape[0], others), generator=g)
    own = (q * k).sum(-1)
    rest = torch.einsum("nd,nkd->nk", q, k[idx])
    return float((own[:, None] > rest).all(-1).float().mean())


def match_init(
    retrofit, model, tokens: torch.Tensor, *, sharpness: float = 8.0, nats: float = 8.0, ridge: float = 0.1
) -> dict:
    """Write induction-head weights into ``retrofit`` (attached to an fp32 ``model``, calibrated), fitted on ``tokens``.

    Returns what was fitted, for the weights' metadata: per layer, the query fit's R^2 and own-key
    accuracy (the query's own key beats 63 random ones) on held-out calibration windows, and the
    median rank of a copied token among the vocabulary's logit changes.
    """
    config = retrofit.config
    _check(config, model, tokens)
    H, hd = config.heads, config.head_dim
    report: dict = {"sharpness": sharpness, "nats": nats, "ridge": ridge, "layers": {}}
    with torch.no_grad():
        keys, project = _token_keys(retrofit.encoder, model, tokens, H * hd)
        w_out, report["copy_rank"] = _output_weights(retrofit, model, tokens, keys, nats=nats, ridge=ridge)
        inputs = retrofit.cca_inputs(model, tokens)
        own_keys = keys[tokens]  # (B, T, inner)
        B, T = tokens.shape
        perm = torch.randperm(B * T, generator=torch.Generator().manual_seed(0))
        for name, module in retrofit.cca.items():
            x = module.norm(inputs[name] - module.center)  # (B, T, dim)
            report["layers"][int(name)] = _fit_queries(module, x, own_keys, perm, H, sharpness=sharpness, ridge=ridge)
            module.wkv.weight.copy_(torch.cat([project, project]))
            module.wo.weight.copy_(w_out.T)
    return report


def _check(config, model, tokens: torch.Tensor) -> None:
    """Raise :class:`ConfigError` for a retrofit, model or calibration set the initialisation cannot fit."""
    if config.value_shift < 1:
        raise ConfigError("the match initialisation needs value_shift >= 1 (a key's value is the token after it)")
    if config.encoder_base_layers != 0:
        raise ConfigError("the match initialisation needs encoder_base_layers 0 (the encoder reads token embeddings)")
    inner, d = config.heads * config.head_dim, config.encoder_dim
    if inner > d:
        raise ConfigError(f"the match initialisation needs heads * head_dim ({inner}) <= encoder_dim ({d})")
    B, T = tokens.shape
    if B < 2 or T < 2:
        raise ConfigError(f"the match initialisation needs at least 2 calibration windows of 2 tokens, got {B} x {T}")
    if not hasattr(model.output, "weight"):
        raise ConfigError("the match initialisation reads the output matrix: load the base model in fp32")


def _token_keys(encoder, model, tokens: torch.Tensor, inner: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn the encoder's residual branches off and whiten its per-token states.

    Returns every token's key (and value) (V, inner) and the projection (inner, d) that makes it
    from a state; the states' mean is folded into the encoder's output norm.
    """
    V = model.config.vocab_size
    for layer in encoder.layers:  # residual branches off: a token's state depends on that token alone
        for linear in (layer.self_attn.out_proj, layer.linear2):
            linear.weight.zero_()
            linear.bias.zero_()
    encoder.positions.zero_()
    vocab = torch.arange(V)
    states = torch.cat(
        [
            encoder(model.embed(ids[:, None]), torch.ones(len(ids), 1, dtype=torch.bool))[:, 0]
            for ids in vocab.split(8192)
        ]
    )  # (V, d)
    counts = torch.bincount(tokens.reshape(-1), minlength=V).double()
    weight = (0.5 * counts / counts.sum() + 0.5 / V).float()  # the calibration text's tokens, and all tokens
    mean = weight @ states
    encoder.norm_out.bias.sub_(mean)
    states = states - mean
    cov = (states * weight[:, None]).T @ states
    lam, vec = torch.linalg.eigh(cov)  # ascending
    lam, vec = lam.flip(0)[:inner].clamp_min(1e-8), vec.flip(1)[:, :inner]
    project = (vec / lam.sqrt()).T  # (inner, d): whitened principal directions
    return states @ project.T, project


def _output_weights(
    retrofit, model, tokens: torch.Tensor, keys: torch.Tensor, *, nats: float, ridge: float
) -> tuple[torch.Tensor, float]:
    """The output projection (inner, dim) that raises a copied token's logit by about ``nats`` over all
    layers, and the median rank of a copied token among the logit changes it makes."""
    V = model.config.vocab_size
    out_matrix = model.output.weight  # (vocab, dim), tied to the embeddings in SmolLM2
    g = model.norm.weight
    centred = out_matrix - out_matrix.mean(0)
    lam_out, vec_out = torch.linalg.eigh(centred.T @ centred / V)
    white = vec_out @ torch.diag(lam_out.clamp_min(1e-6 * float(lam_out.max())).rsqrt()) @ vec_out.T
    # added to the residual, delta moves logit z by e_z . (g * delta) / rms: with g * delta = white @ white_y,
    # that is white_z . white_y, a token's whitened similarity to the copied one (highest for itself)
    w_out = _ridge(keys, centred @ white, ridge) @ white / g  # (inner, dim)
    nxt = tokens[:, 1:].reshape(-1)
    sample = nxt[torch.randperm(len(nxt), generator=torch.Generator().manual_seed(0))[:256]]
    change = out_matrix @ (g * (keys[sample] @ w_out)).T  # (V, n): each copy's raw logit change
    copied = change[sample, torch.arange(len(sample))]
    rise = copied - change.mean(0)
    copy_rank = float((change > copied).sum(0).float().median())
    final_rms = float(model.hidden(tokens, model.config.n_layers).pow(2).mean(-1).sqrt().median())
    w_out *= nats * final_rms / (len(retrofit.cca) * float(rise.median().clamp_min(1e-6)))
    return w_out, copy_rank


def _fit_queries(
    module, x: torch.Tensor, own_keys: torch.Tensor, perm: torch.Tensor, H: int, *, sharpness: float, ridge: float
) -> dict:
    """Fit ``module``'s query projection from its inputs ``x`` (B, T, dim) to each token's own key
    ``own_keys`` (B, T, inner), scaled per head to ``sharpness``; return the fit's report.

    The last fifth of the windows scores the fit held out, then all of them fit it.
    """
    B, inner = x.shape[0], own_keys.shape[-1]
    hd = inner // H
    held = max(1, B // 5)
    w = _ridge(x[:-held].reshape(-1, x.shape[-1]), own_keys[:-held].reshape(-1, inner), ridge)
    q_held, k_held = x[-held:].reshape(-1, x.shape[-1]) @ w, own_keys[-held:].reshape(-1, inner)
    r2 = 1 - float((q_held - k_held).pow(2).sum() / (k_held - k_held.mean(0)).pow(2).sum())
    accuracy = _own_key_accuracy(q_held, k_held)
    x, k = x.reshape(-1, x.shape[-1]), own_keys.reshape(-1, inner)
    w = _ridge(x, k, ridge)
    q = x @ w
    own = (q * k).view(-1, H, hd).sum(-1) / math.sqrt(hd)  # (n, H)
    other = (q * k[perm]).view(-1, H, hd).sum(-1) / math.sqrt(hd)
    gap = (own - other).mean(0).clamp_min(1e-3)  # (H,)
    module.wq.weight.copy_((w * (sharpness / gap).repeat_interleave(hd)).T)
    return {
        "query_r2_heldout": round(r2, 4),
        "own_key_accuracy_heldout": round(accuracy, 4),
        "raw_gap": [round(float(x), 3) for x in gap],
    }
