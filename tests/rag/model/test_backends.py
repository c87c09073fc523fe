"""The Generator interface over our decoder and llama.cpp, and the ``rag generate`` command."""

from __future__ import annotations

import argparse
import builtins
import json

import pytest

from indexes.errors import ConfigError, MissingDependencyError
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
    from rag.generate.torch_backend import shared_torch_generator

    assert shared_torch_generator(gguf_path, "int4", 1) is torch_generator


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
