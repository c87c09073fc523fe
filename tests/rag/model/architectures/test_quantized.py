"""Every architecture's int8 and int4 models (weights re-quantized from F32) run close to transformers' logits."""

from __future__ import annotations

import pytest
import torch

from rag.model.decode_step import runs_in_step
from tests.rag.model.architectures.tiny_models import LAYERS, run

# int8 and int4 (weights re-quantized from F32, Gaussian: 4-bit groups' worst case) against transformers, as the
# relative L2 error of the logits, one pass or cached, for 2 layers; the noise of independent layers adds up, so
# the bound grows with sqrt(layers / 2). Measured: int8 0.012-0.024, int4 0.086-0.165; 7 layers (gemma3): int8
# 0.031-0.038, int4 0.29-0.40.
QUANT_REL = {"int8": 0.05, "int4": 0.25}


@pytest.mark.parametrize("quant", ["int8", "int4"])
def test_quantized_modes_run_close_to_fp32(built, quant):
    model, ids = built.models[quant], built.sequences[1]
    cache = model.new_cache(len(ids))  # cached: the one-call step where the model has one
    cached = torch.cat([run(model, ids[:5], cache)] + [run(model, [t], cache) for t in ids[5:]])
    for ours, base in (
        (run(model, built.sequences[0]), built.reference[0]),
        (run(model, ids), built.reference[1]),
        (cached, built.reference[1]),
    ):
        rel = float((ours - base).norm() / base.norm())
        assert rel <= QUANT_REL[quant] * (built.case.layers / LAYERS) ** 0.5, (quant, len(ours), rel)
    # the one-call int4 step runs Llamas and Qwen 2 (its bias); it lacks the other switches
    assert runs_in_step(model.config) or model.decode_step is None
    if built.case.name in ("llama3-metadata", "qwen2"):
        assert (model.decode_step is not None) == (quant == "int4")
