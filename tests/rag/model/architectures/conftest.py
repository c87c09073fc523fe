"""Each tiny architecture built once for every module here: the model, its GGUF, its loads and the reference logits.

Session-scoped rather than module-scoped so that the modules share one build per
case (the tests directories have no ``__init__.py``, so pytest has no package
node to scope to); pytest orders the tests by case and keeps one case alive at
a time. Without transformers or sentencepiece the whole directory is skipped.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rag.model import load_gguf
from tests.rag.model.architectures.tiny_models import CASES, CONTEXT, Built, Case, hf_model, write_gguf
from tests.rag.model.spm_vocab import train_spm


@pytest.fixture(scope="session")
def sp(tmp_path_factory):
    """A SentencePiece vocabulary trained on the spot."""
    return train_spm(tmp_path_factory.mktemp("spm"))


@pytest.fixture(scope="session", params=CASES, ids=[c.name for c in CASES])
def built(request, sp, tmp_path_factory) -> Built:
    """The case, built with transformers, written as a GGUF, loaded in fp32, int8 and int4, run on 3 sequences."""
    case: Case = request.param
    hf = hf_model(case, sp.GetPieceSize())
    path = tmp_path_factory.mktemp(case.name) / f"tiny-{case.name}.gguf"
    write_gguf(path, case, hf, sp)
    loaded = {q: load_gguf(str(path), q) for q in ("fp32", "int8", "int4")}
    models = {q: model for q, (model, _) in loaded.items()}
    rng = np.random.default_rng(7)
    sequences = [[sp.bos_id(), *rng.integers(3, sp.GetPieceSize(), n - 1).tolist()] for n in (12, 40, CONTEXT)]
    with torch.inference_mode():
        reference = [hf(torch.tensor([ids])).logits[0] for ids in sequences]
    return Built(case, hf, str(path), models, loaded["fp32"][1], sequences, reference)
