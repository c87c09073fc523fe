"""Generation from a prompt: what the decoding loop (:mod:`rag.model.decode_loop`) is set up with, and what
is cut from its output afterwards (repeats, stop strings); streaming; scoring of given continuations.

``DecodeStats`` is defined with the loop and exported here too, where callers have always imported it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from core.errors import ConfigError
from rag.model.constraints import TokenConstraint
from rag.model.decode_loop import DecodeState, DecodeStats, decode_many, prefill
from rag.model.fused import MAX_TOKENS
from rag.model.generation_config import GenerationConfig
from rag.model.model import LlamaModel
from rag.model.repetition import RepetitionStop
from rag.model.sampling import Sampler
from rag.model.speculative import DraftPolicy, PromptLookup
from rag.model.tokenizer import GGUFTokenizer, IncrementalDecoder


def first_stop(text: str, stops: Sequence[str]) -> int:
    """Where the earliest of ``stops`` begins in ``text``, or -1 when none occurs."""
    return min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)


class Decoder:
    """Generates from a :class:`LlamaModel` with its tokenizer.

    Args:
        model: the decoder (eval mode).
        tokenizer: its tokenizer; its ``stop_ids`` (eos and the end-of-turn tokens) end generation.
        lookup: prompt-lookup settings used for greedy decoding (None disables speculation).
    """

    def __init__(self, model: LlamaModel, tokenizer: GGUFTokenizer, lookup: PromptLookup | None = None) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.lookup = lookup if lookup is not None else PromptLookup()
        self.stop_ids = set(tokenizer.stop_ids)  # eos and end-of-turn tokens (<|eot_id|>, <end_of_turn>, <|end|>...)

    def tokens(
        self,
        prompt: Sequence[int],
        config: GenerationConfig,
        stats: DecodeStats | None = None,
        constraint: TokenConstraint | None = None,
        speculative: bool = True,
        context: object = None,
    ) -> Iterator[int]:
        """Yield generated token ids (the end token is not yielded).

        With ``config.stop_repeat_ngram`` set (and no constraint, whose output a
        cut would leave incomplete), tokens that could still be cut as the start
        of a repeat are held back (see :mod:`rag.model.repetition`); when the
        repeat is found, generation ends with finish reason "repetition" and the
        held tokens of the second copy are dropped, never yielded.

        Args:
            prompt: the prompt's token ids.
            config: sampling settings.
            stats: filled in as generation proceeds.
            constraint: only tokens it allows are sampled; generation ends when it is complete.
            speculative: draft with prompt lookup when decoding greedily without a constraint.
            context: passed to the layers' cross-attention modules.
        """
        stats = stats if stats is not None else DecodeStats()
        decoded = self._decode(prompt, config, stats, constraint, speculative, context)
        if not config.stop_repeat_ngram or constraint is not None:
            yield from decoded
            return
        watch = RepetitionStop(config.stop_repeat_ngram, config.stop_repeat_count)
        released = 0
        try:
            for token in decoded:
                if watch.push(token):
                    break
                while released < watch.safe:
                    yield watch.tokens[released]
                    released += 1
        finally:
            decoded.close()
        end = len(watch.tokens)  # the loop ended (end token, stop, length): what was held back is safe now
        if watch.stopped:
            end = watch.keep
            stats.finish_reason = "repetition"
            stats.repeated_tokens = len(watch.tokens) - watch.keep
        yield from watch.tokens[released:end]

    def _decode(
        self,
        prompt: Sequence[int],
        config: GenerationConfig,
        stats: DecodeStats,
        constraint: TokenConstraint | None,
        speculative: bool,
        context: object,
    ) -> Iterator[int]:
        """The decoding loop itself (:mod:`rag.model.decode_loop`): :meth:`tokens` without the repetition stop."""
        if not prompt:
            raise ConfigError("the prompt is empty; give at least one token")
        stats.prompt_tokens = len(prompt)
        sampler = Sampler(config, self.model.config.vocab_size, prompt_length=len(prompt))
        speculate = speculative and sampler.greedy and constraint is None and self.lookup.max_draft > 0
        draft_room = min(self.lookup.max_draft, MAX_TOKENS - 1) if speculate else 0
        cache = self.model.new_cache(min(self.model.config.max_seq_len, len(prompt) + config.max_tokens + draft_room))
        state = DecodeState(self.model, cache, sampler, config, stats, self.stop_ids, list(prompt), context, constraint)
        if constraint is not None:
            state.constraint_state = constraint.initial()
        if speculate:
            state.lookup = PromptLookup(self.lookup.max_ngram, self.lookup.min_ngram, draft_room)
            state.lookup.extend(prompt)
            state.policy = DraftPolicy(draft_room)
        with torch.inference_mode():
            yield from decode_many(state, prefill(state))

    def stream(
        self, prompt: Sequence[int], config: GenerationConfig, stats: DecodeStats | None = None, **kwargs: object
    ) -> Iterator[str]:
        """Yield the generated text in pieces, ending before the first stop string.

        Text that could be the beginning of a stop string is held back until it
        is clear that it is not (and :meth:`tokens` holds back what the
        repetition stop could still cut). Keyword arguments go to :meth:`tokens`.
        """
        stats = stats if stats is not None else DecodeStats()
        decoder = IncrementalDecoder(self.tokenizer)
        hold = max((len(s) for s in config.stop), default=1) - 1
        pending = ""
        tokens = self.tokens(prompt, config, stats, **kwargs)  # type: ignore[arg-type]
        try:
            for token in tokens:
                pending += decoder.push(token)
                cut = first_stop(pending, config.stop)
                if cut >= 0:
                    pending = pending[:cut]
                    stats.finish_reason = "stop"
                    break
                if len(pending) > hold:
                    yield pending[: len(pending) - hold]
                    pending = pending[len(pending) - hold :]
        finally:
            tokens.close()
        if pending:
            yield pending

    def score_prefixes(
        self, prompt: Sequence[int], runs: Sequence[tuple[Sequence[int], Sequence[int]]]
    ) -> list[list[float]]:
        """Log-probabilities of replies that are prefixes of a few token runs, each followed by the end token.

        The prompt is run once; each run then goes through the model once from the
        cached prompt (the cache is cut back to the prompt between runs), and every
        prefix of it that ends at one of its ``ends`` is scored from that one pass.
        Choosing among many short spans that share their beginnings (the spans of
        a sentence that start at one word) so costs one pass per starting point.

        Args:
            prompt: token ids.
            runs: (tokens, ends) pairs: a non-empty run of token ids and the prefix
                lengths (1..len(tokens)) to score.
        Returns:
            per run, one summed log-probability per end, the reply's ending included (the
            probability of any stop token there); higher is likelier.
        """
        if not prompt or any(not tokens or not ends for tokens, ends in runs):
            raise ConfigError("score_prefixes needs a prompt and non-empty runs with at least one end")
        for tokens, ends in runs:
            if any(not 1 <= e <= len(tokens) for e in ends):
                raise ConfigError(f"prefix ends must lie in 1..{len(tokens)}, got {list(ends)}")
        stops = torch.tensor(sorted(self.stop_ids))  # ending is any stop token: their probabilities add up
        longest = max(len(tokens) for tokens, _ in runs)
        cache = self.model.new_cache(min(self.model.config.max_seq_len, len(prompt) + longest))
        with torch.inference_mode():
            first = torch.log_softmax(self.model(torch.tensor([prompt]), cache, last_only=True)[0, -1].float(), -1)
            out = []
            for tokens, ends in runs:
                cache.truncate(len(prompt))
                logp = torch.log_softmax(self.model(torch.tensor([list(tokens)]), cache)[0].float(), -1)  # (T, vocab)
                # cumulative log-probability of tokens[:n]: the first from the prompt, the rest from the run
                steps = [float(first[tokens[0]])] + logp[
                    torch.arange(len(tokens) - 1), torch.tensor(tokens[1:], dtype=torch.long)
                ].tolist()
                cumulative = torch.tensor(steps, dtype=torch.float64).cumsum(0)
                ending = torch.logsumexp(logp[:, stops], dim=-1)  # (T,): log P(stop) after each position
                out.append([float(cumulative[e - 1]) + float(ending[e - 1]) for e in ends])
        return out
