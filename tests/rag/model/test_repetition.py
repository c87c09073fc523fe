"""The degenerate-repetition stop: the detector on scripted tokens, then the decoding loop on a scripted model."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
import torch

from core.errors import ConfigError
from rag.model.generation import Decoder, DecodeStats
from rag.model.generation_config import GenerationConfig
from rag.model.repetition import RepetitionStop, repetition_cut
from rag.model.speculative import PromptLookup

# -- the detector -------------------------------------------------------------


def run(tokens, ngram, count=2) -> tuple[RepetitionStop, int | None]:
    """Push until the stop fires; (detector, index of the token that fired it or None)."""
    stop = RepetitionStop(ngram, count)
    for i, token in enumerate(tokens):
        if stop.push(token):
            return stop, i
    return stop, None


def test_a_long_span_stops_at_its_second_copy_and_keeps_the_first():
    sentence = list(range(100, 120))
    stop, fired = run([1, 2, *sentence, *sentence, *sentence], ngram=12)
    assert fired == 2 + 20 + 11  # the 12th token of the second copy
    assert stop.keep == 22  # the text before the second copy: one copy survives


def test_a_short_loop_is_caught_once_ngram_tokens_of_it_come_round_again():
    stop, fired = run([7, 8, *[1, 2, 3] * 10], ngram=6)
    assert fired == 2 + 6 + 3 - 1  # the loop's 6-gram recurs 3 tokens after it first completed
    assert stop.keep == 5  # 7 8 and one copy of 1 2 3


def test_count_three_waits_for_the_third_copy_and_still_cuts_at_the_second():
    sentence = list(range(100, 110))
    stop, fired = run([1, *sentence, 2, *sentence, 3, *sentence], ngram=8, count=3)
    assert fired == 1 + 11 + 11 + 7
    assert stop.keep == 12  # 1, the sentence, 2: the second copy on is cut


def test_spans_shorter_than_ngram_and_answers_without_loops_never_stop():
    _, fired = run([1, 2, 3, 4, 9, 1, 2, 3, 4, 8, 1, 2, 3, 4], ngram=5)
    assert fired is None
    _, fired = run(list(range(300)), ngram=2)
    assert fired is None


def test_after_the_fact_cut_equals_the_live_one():
    tokens = [5, *range(20, 40), *range(20, 40)]
    stop, _ = run(tokens, ngram=12)
    assert repetition_cut(tokens, 12) == stop.keep == 21
    assert repetition_cut(list(range(50)), 12) is None
    assert repetition_cut(["a", "b", "c", "a", "b", "c"], 3) == 3  # any hashable: llama.cpp's text pieces


@pytest.mark.parametrize("ngram, count", [(2, 2), (4, 2), (6, 3), (12, 2)])
def test_safe_never_passes_a_later_cut(ngram, count):
    """What a stream released (``safe``) is never taken back: the final cut keeps at least that much."""
    rng = random.Random(ngram * 10 + count)
    for _ in range(200):
        stop = RepetitionStop(ngram, count)
        released = 0
        for token in [rng.randrange(4) for _ in range(rng.randrange(1, 80))]:
            if stop.push(token):
                break
            assert stop.safe >= released  # never shrinks
            released = stop.safe
        assert stop.safe >= released and stop.safe <= len(stop.tokens)


def test_text_that_does_not_repeat_is_held_back_by_at_most_its_matching_suffix():
    stop = RepetitionStop(12)
    for token in [1, 2, 3, 4, 5, 6]:
        stop.push(token)
    assert stop.safe == 6
    for token in [1, 2]:  # "1 2" occurred before: the start of a possible copy
        stop.push(token)
    assert stop.safe == 6
    stop.push(9)
    assert stop.safe == 9


def test_bad_settings_raise():
    with pytest.raises(ConfigError, match="at least 2 tokens"):
        RepetitionStop(1)
    with pytest.raises(ConfigError, match="second copy"):
        RepetitionStop(8, 1)
    with pytest.raises(ConfigError, match="stop_repeat_ngram"):
        GenerationConfig(stop_repeat_ngram=1)
    with pytest.raises(ConfigError, match="stop_repeat_count"):
        GenerationConfig(stop_repeat_ngram=8, stop_repeat_count=1)


# -- the decoding loop, on a model that follows a script -------------------------

VOCAB, EOS = 64, 0


@dataclass
class ScriptedConfig:
    vocab_size: int = VOCAB
    max_seq_len: int = 512


class ScriptedCache:
    """Remembers the tokens at each position (the only state the scripted model needs)."""

    def __init__(self, max_len: int) -> None:
        self.max_len, self.length, self.tokens = max_len, 0, []

    def truncate(self, length: int) -> None:
        self.length = min(self.length, length)
        del self.tokens[self.length :]


class ScriptedModel:
    """Predicts ``script[i]`` as the i-th generated token whatever came before, then the end token.

    The logits at each input position depend only on the position, so a draft
    checked in one pass gets exactly the predictions of token-by-token decoding.
    """

    def __init__(self, prompt_length: int, script: list[int]) -> None:
        self.config = ScriptedConfig()
        self.prompt_length, self.script = prompt_length, script

    def new_cache(self, max_len: int) -> ScriptedCache:
        return ScriptedCache(max_len)

    def __call__(self, ids: torch.Tensor, cache: ScriptedCache, context=None, last_only=False) -> torch.Tensor:
        start = cache.length
        cache.tokens.extend(ids[0].tolist())
        cache.length = start + ids.shape[1]
        logits = torch.zeros(1, ids.shape[1], VOCAB)
        for t in range(ids.shape[1]):
            i = start + t + 1 - self.prompt_length  # the generated token this position predicts (< 0: in the prompt)
            logits[0, t, self.script[i] if 0 <= i < len(self.script) else EOS] = 10.0
        return logits


class ScriptedTokenizer:
    eos_id = EOS
    stop_ids = (EOS,)

    def decode(self, ids, skip_special: bool = True) -> str:
        return "".join(f"w{i} " for i in ids if i != EOS)


def decoder_for(prompt: list[int], script: list[int]) -> Decoder:
    return Decoder(ScriptedModel(len(prompt), script), ScriptedTokenizer(), PromptLookup(max_draft=8))


PROMPT = [1, 2, 3, *range(40, 52), 4]
ANSWER = list(range(20, 30))
LOOP = list(range(30, 37))  # a 7-token "sentence" the model repeats
LOOPING = [*ANSWER, *LOOP * 12]  # 94 tokens: an answer, then one sentence until the limit


@pytest.mark.parametrize("speculative", [False, True])
def test_a_loop_is_cut_back_to_its_first_copy(speculative):
    decoder = decoder_for(PROMPT, LOOPING)
    stats = DecodeStats()
    config = GenerationConfig(max_tokens=256, stop_repeat_ngram=8)
    out = list(decoder.tokens(PROMPT, config, stats, speculative=speculative))
    assert out == [*ANSWER, *LOOP]
    assert stats.finish_reason == "repetition"
    assert stats.generated_tokens == len(ANSWER) + len(LOOP) + 8  # the second copy's 8-gram completed it
    assert stats.repeated_tokens == 8


def test_speculation_drafts_through_the_loop_and_gives_the_same_tokens():
    prompt = [*PROMPT, *LOOP, *LOOP]  # the prompt holds the loop too: drafts for it are accepted
    plain, fast = DecodeStats(), DecodeStats()
    config = GenerationConfig(max_tokens=256, stop_repeat_ngram=8)
    a = list(decoder_for(prompt, LOOPING).tokens(prompt, config, plain, speculative=False))
    b = list(decoder_for(prompt, LOOPING).tokens(prompt, config, fast, speculative=True))
    assert a == b == [*ANSWER, *LOOP]
    assert fast.accepted_tokens > 0 and fast.forward_passes < plain.forward_passes
    assert plain.finish_reason == fast.finish_reason == "repetition"


def test_without_the_setting_the_loop_runs_to_the_limit():
    stats = DecodeStats()
    out = list(decoder_for(PROMPT, LOOPING).tokens(PROMPT, GenerationConfig(max_tokens=60), stats))
    assert out == LOOPING[:60] and stats.finish_reason == "length"


def test_the_prompt_never_counts():
    """An answer that copies a passage the prompt holds twice is not a repeat."""
    passage = list(range(40, 52))
    prompt = [1, *passage, 2, *passage, 3]
    stats = DecodeStats()
    config = GenerationConfig(stop_repeat_ngram=4)
    out = list(decoder_for(prompt, [5, *passage, 6]).tokens(prompt, config, stats))
    assert out == [5, *passage, 6] and stats.finish_reason == "stop"


@pytest.mark.parametrize("speculative", [False, True])
def test_the_stream_never_yields_what_is_cut(speculative):
    decoder = decoder_for(PROMPT, LOOPING)
    stats = DecodeStats()
    pieces = list(decoder.stream(PROMPT, GenerationConfig(stop_repeat_ngram=8), stats, speculative=speculative))
    assert "".join(pieces) == ScriptedTokenizer().decode([*ANSWER, *LOOP])
    assert len(pieces) > len(ANSWER) // 2  # released as it goes, not held to the end
    assert stats.finish_reason == "repetition"


def test_a_stop_string_before_the_cut_still_wins():
    stats = DecodeStats()
    config = GenerationConfig(stop_repeat_ngram=8, stop=("w31 ",))
    text = "".join(decoder_for(PROMPT, LOOPING).stream(PROMPT, config, stats))
    assert text == ScriptedTokenizer().decode([*ANSWER, 30]) and stats.finish_reason == "stop"


def test_constrained_decoding_ignores_the_stop():
    from rag.model.constraints import ChoiceMachine, TokenConstraint

    table = [ScriptedTokenizer().decode([i]).encode() for i in range(VOCAB)]
    text = ScriptedTokenizer().decode(LOOPING[:30])
    constraint = TokenConstraint(ChoiceMachine([text]), table, {EOS})
    stats = DecodeStats()
    config = GenerationConfig(stop_repeat_ngram=8)
    out = list(decoder_for(PROMPT, LOOPING).tokens(PROMPT, config, stats, constraint=constraint))
    assert out == LOOPING[:30] and stats.finish_reason == "stop"


# -- through the real model -------------------------------------------------------


@pytest.mark.slow
def test_real_model_speculation_and_stream_agree_with_the_stop(load, rag_prompts):
    model, tok = load("int4")
    decoder = Decoder(model, tok)
    config = GenerationConfig(max_tokens=64, stop_repeat_ngram=6)
    for text in rag_prompts:
        prompt = tok.encode(tok.apply_chat_template([{"role": "user", "content": text}]))
        plain, fast = DecodeStats(), DecodeStats()
        a = list(decoder.tokens(prompt, config, plain, speculative=False))
        b = list(decoder.tokens(prompt, config, fast, speculative=True))
        assert a == b and plain.finish_reason == fast.finish_reason
        assert "".join(decoder.stream(prompt, config)) == tok.decode(a)
