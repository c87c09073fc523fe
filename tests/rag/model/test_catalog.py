"""The models listing: the shipped GGUF and a folder's files described from their headers, names resolved."""

from __future__ import annotations

import os

import gguf
import numpy as np
import pytest

from core.errors import ConfigError
from rag.model.catalog import describe, list_models, resolve_model
from rag.model.gguf_file import default_gguf_path


def _tiny(path, arch: str, qtype=gguf.GGMLQuantizationType.F32) -> None:
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_context_length(1024)
    writer.add_tensor("token_embd.weight", np.zeros((16, 8), np.float32), raw_dtype=qtype)
    writer.add_tensor("output_norm.weight", np.ones(8, np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_the_shipped_model_is_described_from_its_header():
    info = describe(default_gguf_path(), shipped=True)
    assert info.architecture == "llama" and info.shipped and info.supported
    assert 130e6 < info.parameters < 140e6  # SmolLM2-135M
    assert info.context_length == 8192
    assert info.file_bytes == os.path.getsize(default_gguf_path())
    assert "Q4_1" in info.tensor_types


def test_a_folder_lists_each_file_with_what_stops_it(tmp_path):
    _tiny(tmp_path / "tiny-qwen.gguf", "qwen2")
    _tiny(tmp_path / "odd.gguf", "mamba")
    (tmp_path / "broken.gguf").write_bytes(b"GGUF" + b"\x00" * 10)
    (tmp_path / "notes.txt").write_text("not a model")
    models = {m.name: m for m in list_models(tmp_path)}
    assert set(models) == {"SmolLM2-135M-Instruct.Q4_1", "tiny-qwen", "odd", "broken"}
    assert models["tiny-qwen"].architecture == "qwen2" and models["tiny-qwen"].supported
    assert models["tiny-qwen"].parameters == 16 * 8 + 8 and models["tiny-qwen"].context_length == 1024
    assert "mamba" in models["odd"].problem and "qwen2" in models["odd"].problem
    assert models["broken"].problem.startswith("unreadable")


def test_names_and_paths_resolve(tmp_path):
    _tiny(tmp_path / "tiny-qwen.gguf", "qwen2")
    assert resolve_model("", tmp_path) is None
    assert resolve_model("tiny-qwen", tmp_path) == str(tmp_path / "tiny-qwen.gguf")
    assert resolve_model("tiny-qwen.gguf", tmp_path) == str(tmp_path / "tiny-qwen.gguf")
    assert resolve_model("SmolLM2-135M-Instruct.Q4_1", tmp_path) is None  # the shipped one: the default path
    assert resolve_model(str(tmp_path / "tiny-qwen.gguf"), None) == str(tmp_path / "tiny-qwen.gguf")
    with pytest.raises(ConfigError, match="tiny-qwen"):  # the message lists what there is
        resolve_model("llama-3.2-1b", tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model(str(tmp_path / "gone.gguf"), tmp_path)


def test_rag_models_lists_them_and_marks_the_one_in_use(tmp_path, monkeypatch, capsys):
    import json

    from rag.cli import main

    _tiny(tmp_path / "tiny-qwen.gguf", "qwen2")
    monkeypatch.setenv("RAG_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("RAG_MODEL", "tiny-qwen")
    assert main(["models", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["name"], r["active"]) for r in rows] == [("SmolLM2-135M-Instruct.Q4_1", False), ("tiny-qwen", True)]
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "* tiny-qwen" in out and "qwen2" in out and "ctx 1024" in out
