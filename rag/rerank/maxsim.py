"""Zero-shot late-interaction reranking (ColBERT-style MaxSim) over MiniLM token vectors.

Query and passage are encoded separately by the packaged all-MiniLM-L6-v2;
each token's last hidden state is L2-normalised, and a passage scores the
mean over query tokens of the best cosine any passage token reaches:

    score(q, p) = 1/|q| * sum_{i in q} max_{j in p} cos(q_i, p_j)

[CLS], [SEP] and padding take part in neither side. Dividing by the query's
length keeps scores in [-1, 1]; it does not change the order for one query.
No training: the model was never taught token-level matching, so this is a
baseline and a fallback that needs no weight file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from ingest.embed import model_dir

MAX_LENGTH = 256  # passage tokens, as the embedding model was trained
BATCH_SIZE = 32  # passages per forward pass


class MaxSimReranker:
    """:class:`~rag.rerank.base.Reranker` by MaxSim over token vectors of the packaged MiniLM.

    Args:
        batch_size: passages per forward pass.
    """

    name = "maxsim"

    def __init__(self, batch_size: int = BATCH_SIZE) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is packaged; nothing may download
        from transformers import AutoModel, AutoTokenizer

        path = model_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        self.batch_size = batch_size

    def _token_vectors(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit token vectors (B, T, H) float32 and a mask (B, T) bool of the tokens that count."""
        batch = self.tokenizer(
            texts,
            truncation=True,
            max_length=MAX_LENGTH,
            padding=True,
            return_special_tokens_mask=True,
            return_tensors="pt",
        )
        special = batch.pop("special_tokens_mask").bool()
        hidden = self.model(**batch).last_hidden_state  # (B, T, H)
        keep = batch["attention_mask"].bool() & ~special  # (B, T)
        return torch.nn.functional.normalize(hidden, dim=-1), keep

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """float32 (len(passages),) MaxSim scores in [-1, 1]; higher is more relevant."""
        out = np.zeros(len(passages), dtype=np.float32)
        if not passages:
            return out
        order = np.argsort([len(p) for p in passages], kind="stable")  # similar lengths pad less
        with torch.inference_mode():
            q, q_keep = self._token_vectors([query])
            q = q[0][q_keep[0]]  # (Lq, H)
            if q.shape[0] == 0:  # an empty query matches nothing
                return out
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                p, p_keep = self._token_vectors([passages[i] for i in idx])  # (B, T, H), (B, T)
                sims = torch.einsum("qh,bth->bqt", q, p)  # (B, Lq, T)
                sims = sims.masked_fill(~p_keep[:, None, :], -2.0)  # below any cosine
                best = sims.max(dim=2).values.clamp(min=-1.0)  # (B, Lq); an empty passage scores -1
                out[idx] = best.mean(dim=1).float().numpy()
        return out
