"""ingest.embed.bert: the plain-torch MiniLM equals transformers' BertModel, and loading it leaves transformers out."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from ingest.embed import model_dir, new_tokenizer
from ingest.embed.bert import WORD_EMBEDDINGS, BertConfig, BertEncoder, load_bert, map_safetensors

TEXTS = ["What is new in Vite 3?", "Vite 3 ships a new documentation theme and drops Node 12. " * 6, "short"]


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    encodings = new_tokenizer(256).encode_batch(TEXTS)
    ids = torch.zeros((len(TEXTS), max(len(e.ids) for e in encodings)), dtype=torch.long)
    for row, e in enumerate(encodings):
        ids[row, : len(e.ids)] = torch.tensor(e.ids)
    return ids, (ids != 0).long()


def test_parameter_names_are_transformers_bert_names():
    config = BertConfig(100, 32, 2, 4, 64, 16, 2, 1e-12)
    names = set(BertEncoder(config).state_dict())
    assert "encoder.layer.1.attention.self.query.weight" in names
    assert "encoder.layer.0.attention.output.LayerNorm.bias" in names
    assert "embeddings.word_embeddings.weight" in names and len(names) == 5 + 2 * 16


def test_mapped_tensors_are_the_file_s():
    tensors = map_safetensors(model_dir() / "model.safetensors")
    assert tensors["embeddings.word_embeddings.weight"].shape == (30522, 384)
    assert tensors["embeddings.word_embeddings.weight"].dtype == torch.float32


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_equals_transformers_bert(dtype):
    from transformers import AutoModel

    ours = load_bert(model_dir(), dtype)
    theirs = AutoModel.from_pretrained(str(model_dir()), local_files_only=True).eval().to(dtype)
    ids, mask = _batch()
    with torch.inference_mode():
        a = ours(ids, mask, torch.zeros_like(ids))[0]
        b = theirs(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
    keep = mask.bool()
    assert torch.equal(a[keep], b[keep])  # bit for bit on every real token (padding rows are never read)


@pytest.mark.slow
def test_loading_and_running_imports_neither_transformers_nor_dynamo():
    code = (
        "import sys, torch; from ingest.embed.bert import load_bert; from ingest.embed import model_dir; "
        "m = load_bert(model_dir(), torch.bfloat16); m(torch.tensor([[101, 2054, 102]]), torch.ones(1, 3)); "
        "print(sorted(n for n in ('transformers', 'torch._dynamo', 'sympy') if n in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_model_reads_one_float32_word_table_and_rounds_its_rows_to_its_dtype():
    fp32, bf16 = load_bert(model_dir()), load_bert(model_dir(), torch.bfloat16)
    table = fp32.embeddings.word_embeddings.weight
    assert table.dtype == torch.float32 and bf16.embeddings.word_embeddings.weight.data_ptr() == table.data_ptr()
    assert all(p.dtype == torch.bfloat16 for n, p in bf16.named_parameters() if n != WORD_EMBEDDINGS)
    ids = _batch()[0]
    with torch.inference_mode():
        got = bf16.embeddings(ids, torch.zeros_like(ids))
        converted = load_bert(model_dir(), torch.bfloat16)
        converted.embeddings.word_embeddings.weight = torch.nn.Parameter(table.to(torch.bfloat16))
        want = converted.embeddings(ids, torch.zeros_like(ids))
    assert got.dtype == torch.bfloat16 and torch.equal(got, want)  # as if the table were converted to bf16
