"""The packaged retrofit weights: small, and documented with their recipe, data and losses.

(That they attach to the int4 decoder with open gates is tested in tests/rag/model/test_retro.py.)"""

from __future__ import annotations

import json

from rag.rerank.cross_encoder import file_sha256
from rag.retro import DEFAULT_WEIGHTS
from tests.conftest import SHARED_DATA


def test_the_packaged_weights_carry_their_recipe_and_data():
    weights = DEFAULT_WEIGHTS.with_suffix(".safetensors")
    assert weights.stat().st_size < 12_000_000  # a few MB: fp16, encoder and CCA layers only
    meta = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    assert meta["format"] == "localrag-retro" and meta["steps"] > 100
    assert meta["recipe"]["seq_len"] % meta["config"]["chunk"] == 0
    assert {"retrieved", "random", "none"} <= set(meta["validation"])
    assert meta["loss_curve"] and meta["data"]["split"]["held_out_fraction"] > 0
    corpus = SHARED_DATA / "scifact" / "corpus.jsonl"
    if corpus.is_file():  # the hash names the exact training text
        assert meta["data"]["data"]["corpus.jsonl"] == file_sha256(corpus)
