"""The decoding loop in gpt-fast's shape: :func:`prefill`, :func:`decode_one`, :func:`speculate`, :func:`decode_many`.

:func:`prefill` runs the prompt and picks the first token; :func:`decode_one` runs one token and picks the
next; :func:`speculate` runs a token and a prompt-lookup draft in one pass and keeps what greedy decoding
would have produced itself; :func:`decode_many` yields tokens, asking one of the last two for more, until an
end token, the constraint's end or a length limit. They share one :class:`DecodeState`.

None of them writes the KV cache's position: the cache owns it. The model's pass reads it, writes its
keys and values there and asks the cache to advance; :func:`speculate` asks it to forget the positions of
rejected draft tokens.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterator
from dataclasses import dataclass

import torch

from rag.model.constraints import TokenConstraint
from rag.model.generation_config import GenerationConfig
from rag.model.kv_cache import KVCache
from rag.model.model import LlamaModel
from rag.model.sampling import Sampler
from rag.model.speculative import DraftPolicy, PromptLookup


@dataclass
class DecodeStats:
    """What one generation did; filled in while it runs."""

    prompt_tokens: int = 0
    generated_tokens: int = 0  # every token decoded, a cut repeat included
    prefill_seconds: float = 0.0
    decode_seconds: float = 0.0
    forward_passes: int = 0  # decoding passes after the prefill
    drafted_tokens: int = 0  # tokens proposed by prompt lookup
    accepted_tokens: int = 0  # of those, how many greedy decoding confirmed
    repeated_tokens: int = 0  # generated (and counted above), then cut as the second copy of a repeat
    finish_reason: str = "length"  # "stop" (end token or stop string), "length" or "repetition"

    @property
    def acceptance_rate(self) -> float:
        return self.accepted_tokens / self.drafted_tokens if self.drafted_tokens else 0.0


@dataclass
class DecodeState:
    """One generation: what the loop's functions read and update."""

    model: LlamaModel
    cache: KVCache  # holds every token of ``history`` but the last generated one
    sampler: Sampler
    config: GenerationConfig
    stats: DecodeStats
    stop_ids: set[int]
    history: list[int]  # the prompt, then every token yielded
    context: object = None  # passed to the layers' cross-attention modules
    constraint: TokenConstraint | None = None
    constraint_state: Hashable = None
    lookup: PromptLookup | None = None  # drafts for :func:`speculate`; None decodes one token per pass
    policy: DraftPolicy | None = None  # how much of a draft to verify (set with ``lookup``)

    def allowed(self) -> torch.Tensor | None:
        """bool (vocab,): the tokens the constraint allows next, or None without a constraint."""
        return self.constraint.allowed(self.constraint_state) if self.constraint is not None else None


def prefill(s: DecodeState) -> int:
    """Run the prompt (all of ``s.history``) through the empty cache; return the first generated token."""
    t0 = time.perf_counter()
    logits = s.model(torch.tensor([s.history]), s.cache, context=s.context, last_only=True)[0, -1]
    token = s.sampler.choose(logits, s.history, s.allowed())
    s.stats.prefill_seconds = time.perf_counter() - t0
    return token


def decode_one(s: DecodeState, token: int) -> int:
    """Run ``token`` (the last one yielded, not yet in the cache); return the token after it."""
    logits = s.model(torch.tensor([[token]]), s.cache, context=s.context)[0, -1]
    s.stats.forward_passes += 1
    return s.sampler.choose(logits, s.history, s.allowed())


def speculate(s: DecodeState, token: int, draft: list[int]) -> list[int]:
    """Run ``token`` and the draft in one pass; return the accepted draft prefix plus the token after it.

    A draft token is accepted while it is what greedy decoding picks after the tokens before it, so the
    output equals :func:`decode_one`'s, one pass for several tokens. The cache keeps only the positions
    of ``token`` and the accepted tokens.
    """
    start = s.cache.length
    logits = s.model(torch.tensor([[token, *draft]]), s.cache, context=s.context)[0]  # (1 + d, vocab)
    s.stats.forward_passes += 1
    s.stats.drafted_tokens += len(draft)
    seen = list(s.history)
    out = []
    for i in range(len(draft) + 1):
        choice = s.sampler.choose(logits[i], seen)
        out.append(choice)
        if i == len(draft) or choice != draft[i] or choice in s.stop_ids:
            break
        seen.append(choice)
    s.stats.accepted_tokens += len(out) - 1
    s.cache.truncate(start + len(out))
    return out


def decode_many(s: DecodeState, token: int) -> Iterator[int]:
    """Yield ``token`` and the tokens after it (not the end token) until the generation is over.

    Each round yields what the last pass produced (one token, or a confirmed draft and the token after it)
    and then asks :func:`_next_tokens` for the next round. ``s.stats.finish_reason`` says why it ended.
    """
    t0 = time.perf_counter()
    tokens = [token]
    try:
        while True:
            for token in tokens:
                if token in s.stop_ids:
                    s.stats.finish_reason = "stop"
                    return
                s.history.append(token)
                s.stats.generated_tokens += 1
                yield token
                if s.constraint is not None:
                    s.constraint_state = s.constraint.advance(s.constraint_state, token)
                    if s.constraint.must_stop(s.constraint_state):
                        s.stats.finish_reason = "stop"
                        return
            if s.stats.generated_tokens >= s.config.max_tokens or s.cache.length >= s.cache.max_len:
                s.stats.finish_reason = "length"  # asked-for length, or the model's context is full
                return
            tokens = _next_tokens(s, tokens)
    finally:
        s.stats.decode_seconds = time.perf_counter() - t0


def _next_tokens(s: DecodeState, done: list[int]) -> list[int]:
    """The next round after ``done`` (the round just yielded): a verified draft if one is worth it, else one token.

    A draft is never longer than the tokens still asked for, or the cache's room, allow (less one for the
    token after it), so a round never overshoots either limit.
    """
    token = done[-1]
    if s.lookup is None or s.policy is None:
        return [decode_one(s, token)]
    s.lookup.extend(done)
    s.policy.generated(token)
    budget = s.config.max_tokens - s.stats.generated_tokens
    candidate = s.lookup.draft(min(budget - 1, s.cache.max_len - s.cache.length - 1))
    draft = candidate[: s.policy.length(len(candidate))] if candidate else []
    if draft:
        t0 = time.perf_counter()
        new = speculate(s, token, draft)
        s.policy.observe_pass(1 + len(draft), time.perf_counter() - t0)
        s.policy.observe_draft(len(draft), len(new) - 1)
        return new
    if candidate:
        s.policy.shadow(candidate)
    t0 = time.perf_counter()
    new = [decode_one(s, token)]
    s.policy.observe_pass(1, time.perf_counter() - t0)
    return new
