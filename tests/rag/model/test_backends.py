"""The Generator interface over our decoder and llama.cpp, and the ``rag generate`` command."""

from __future__ import annotations

import argparse
import builtins
import json

import pytest

from core.errors import ConfigError, MissingDependencyError
from rag.generate.base import ChatMessage, GenerationConfig
from rag.model.constraints import ChoiceMachine

MESSAGES = [ChatMessage("user", "What is the capital of France? One sentence.")]


def test_torch_generator_generate_stream_and_count(torch_generator):
    g = torch_generator
    result = g.generate(MESSAGES, GenerationConfig(max_tokens=16))
    assert result.text and 0 < result.generated_tokens <= 16 and result.prompt_tokens > 10
    assert result.finish_reason in ("stop", "length") and result.decode_seconds > 0
    assert {"drafted_tokens", "accepted_tokens", "acceptance_rate", "load_seconds"} <= set(result.extra)
    assert "".join(g.stream(MESSAGES, GenerationConfig(max_tokens=16))) == result.text
    assert g.count_tokens("hello world") == 2


def test_beam_search_through_the_config(torch_generator):
    from rag.model import beam_search

    g = torch_generator
    config = GenerationConfig(max_tokens=8, num_beams=3)
    beam = g.generate(MESSAGES, config)
    best = beam_search(g.model, g.prompt_ids(MESSAGES), 3, 8, sorted(g.decoder.stop_ids))[0]
    assert beam.text == g.tokenizer.decode(best.tokens) and beam.extra["num_beams"] == 3
    assert beam.generated_tokens == len(best.tokens) and beam.finish_reason == ("stop" if best.finished else "length")
    assert "".join(g.stream(MESSAGES, config)) == beam.text
    with pytest.raises(ConfigError, match="constraint"):
        g.generate(MESSAGES, config, constraint=ChoiceMachine(["yes", "no"]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_beams": 0}, "num_beams"),
        ({"num_beams": 17}, "num_beams"),
        ({"num_beams": 2, "temperature": 0.7}, "deterministic"),
        ({"stop": ("end", "")}, "stop strings"),
    ],
)
def test_generation_settings_are_checked(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        GenerationConfig(**kwargs)


def test_shared_constructor_loads_once(gguf_path, torch_generator):
    from rag.generate import shared_generator

    assert shared_generator("torch", gguf_path, "int4", 1) is torch_generator


def test_cli_generate_json(gguf_path, capsys):
    from rag.cli import generate

    parser = argparse.ArgumentParser()
    generate.register(parser.add_subparsers())
    args = parser.parse_args(
        ["generate", "Say hi.", "--max-tokens", "8", "--threads", "1", "--gguf", gguf_path, "--json"]
    )
    assert args.func(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["generated_tokens"] <= 8 and report["quant"] == "int4"
    for key in ("text", "prompt_tokens", "prefill_tokens_per_s", "decode_tokens_per_s", "load_seconds", "peak_rss_mb"):
        assert key in report
    args = parser.parse_args(["generate", "Say hi.", "--max-tokens", "4", "--gguf", gguf_path, "--threads", "1"])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip()


def test_cli_generate_with_a_json_schema(gguf_path, tmp_path, capsys):
    from rag.cli import generate

    schema = {"type": "object", "properties": {"answer": {"enum": ["yes", "no"]}}, "required": ["answer"]}
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    parser = argparse.ArgumentParser()
    generate.register(parser.add_subparsers())
    for given in (json.dumps(schema), str(tmp_path / "schema.json")):
        argv = ["generate", "Is Paris in France? Answer in JSON.", "--max-tokens", "16", "--threads", "1"]
        args = parser.parse_args([*argv, "--gguf", gguf_path, "--schema", given])
        assert args.func(args) == 0
        assert json.loads(capsys.readouterr().out)["answer"] in ("yes", "no")
    args = parser.parse_args(["generate", "x", "--gguf", gguf_path, "--schema", "{not json"])
    with pytest.raises(ConfigError, match="--schema"):
        args.func(args)


def test_llama_cpp_backend_is_optional(monkeypatch):
    from rag.generate import llamacpp_backend

    real_import = builtins.__import__

    def no_llama(name, *args, **kwargs):
        if name == "llama_cpp":
            raise ImportError("No module named 'llama_cpp'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_llama)
    with pytest.raises(MissingDependencyError, match="pip install llama-cpp-python"):
        llamacpp_backend.LlamaCppGenerator()


@pytest.mark.slow
def test_llama_cpp_backend_generates(gguf_path):
    pytest.importorskip("llama_cpp")
    from rag.generate.llamacpp_backend import LlamaCppGenerator

    g = LlamaCppGenerator(gguf_path, threads=1, n_ctx=512)
    result = g.generate(MESSAGES, GenerationConfig(max_tokens=12))
    assert result.text and 0 < result.generated_tokens <= 12 and result.prompt_tokens > 10
    assert "".join(g.stream(MESSAGES, GenerationConfig(max_tokens=12))) == result.text
    assert g.count_tokens("hello world") == 2
    g.close()


# -- the repetition stop in the other backends (scripted stand-ins for llama.cpp and transformers) --

LOOPING_PIECES = ["The ", "answer ", "is ", "42. ", *["It ", "is ", "so. "] * 10]
CUT_TEXT = "The answer is 42. It is so. "


class ScriptedLlama:
    """What LlamaCppGenerator uses of ``llama_cpp.Llama``, replying with fixed pieces (one per token)."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces, self.streamed, self.vocab = pieces, 0, []

    def create_chat_completion(self, stream: bool = False, **request):
        self.request = request
        if stream:
            return self._stream()
        usage = {"prompt_tokens": 9, "completion_tokens": len(self.pieces)}
        return {"usage": usage, "choices": [{"message": {"content": "".join(self.pieces)}, "finish_reason": "length"}]}

    def _stream(self):
        for piece in self.pieces:
            self.streamed += 1
            yield {"choices": [{"delta": {"content": piece}}]}

    def tokenize(self, data: bytes, add_bos: bool, special: bool) -> list[int]:
        import re

        words = re.findall(r"\S+\s*", data.decode())
        self.vocab.extend(w for w in words if w not in self.vocab)
        return [self.vocab.index(w) for w in words]

    def detokenize(self, ids: list[int]) -> bytes:
        return "".join(self.vocab[i] for i in ids).encode()

    def reset(self) -> None:
        pass


@pytest.fixture
def scripted_llama(monkeypatch):
    import types

    from rag.generate import llamacpp_backend

    monkeypatch.setattr(llamacpp_backend, "_import_llama", lambda: types.SimpleNamespace())
    g = llamacpp_backend.LlamaCppGenerator.__new__(llamacpp_backend.LlamaCppGenerator)
    g.llm, g.load_seconds = ScriptedLlama(LOOPING_PIECES), 0.0
    return g


def test_llama_cpp_stream_stops_at_the_repeat(scripted_llama):
    g = scripted_llama
    config = GenerationConfig(stop_repeat_ngram=4)
    pieces = list(g.stream(MESSAGES, config))
    assert "".join(pieces) == CUT_TEXT and len(pieces) > 1
    assert g.llm.streamed < len(LOOPING_PIECES)  # the stream was closed at the repeat, not read to its end
    assert "".join(g.stream(MESSAGES, GenerationConfig())) == "".join(LOOPING_PIECES)


def test_llama_cpp_generate_cuts_after_the_fact(scripted_llama):
    result = scripted_llama.generate(MESSAGES, GenerationConfig(stop_repeat_ngram=4))
    assert result.text == CUT_TEXT and result.finish_reason == "repetition"
    assert result.generated_tokens == len(LOOPING_PIECES)  # llama.cpp decoded them all


def test_llama_cpp_penalty_can_leave_the_prompt_out(scripted_llama):
    import numpy as np

    g = scripted_llama
    g.generate(MESSAGES, GenerationConfig(repetition_penalty=1.25))
    assert g.llm.request["repeat_penalty"] == 1.25 and "logits_processor" not in g.llm.request
    g.generate(MESSAGES, GenerationConfig(repetition_penalty=1.25, penalize_prompt=False))
    penalty = g.llm.request["logits_processor"]
    assert g.llm.request["repeat_penalty"] == 1.0
    scores = np.array([2.0, -2.0, 2.0, 2.0], dtype=np.float32)
    prompt = np.array([0, 1, 2], dtype=np.intc)
    assert penalty(prompt, scores.copy()).tolist() == scores.tolist()  # the first call: the prompt, left alone
    out = penalty(np.array([0, 1, 2, 1, 3], dtype=np.intc), scores.copy())  # 1 and 3 were generated
    assert np.allclose(out, [2.0, -2.5, 2.0, 1.6])


def test_transformers_generate_cuts_after_the_fact_and_can_skip_the_prompt_in_the_penalty():
    pytest.importorskip("transformers")
    import torch

    from rag.generate.hf_backend import TransformersGenerator

    script = [5, 6, 7, *[8, 9, 10] * 8]

    class Tokenizer:
        eos_token_id = 0

        def apply_chat_template(self, chat, **kwargs):
            return {"input_ids": torch.tensor([[1, 2, 3, 4]])}

        def decode(self, ids, skip_special_tokens=True):
            return "".join(f"w{int(i)} " for i in ids)

    class Model:
        def generate(self, ids, **kwargs):
            self.kwargs = kwargs
            return torch.cat([ids, torch.tensor([script])], dim=1)

    g = TransformersGenerator.__new__(TransformersGenerator)
    g.torch, g.tokenizer, g.model = torch, Tokenizer(), Model()
    result = g.generate(MESSAGES, GenerationConfig(stop_repeat_ngram=4, repetition_penalty=1.2, penalize_prompt=False))
    assert result.text == "w5 w6 w7 w8 w9 w10" and result.finish_reason == "repetition"
    assert result.generated_tokens == len(script)
    (penalty,) = g.model.kwargs["logits_processor"]
    assert g.model.kwargs["repetition_penalty"] == 1.0 and penalty.prompt_ignore_length == 4
