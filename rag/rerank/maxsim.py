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

from collections.abc import Sequence

import numpy as np
import torch

from ingest.embed import model_dir
from ingest.embed.bert import load_bert
from ingest.embed.files import truncating_tokenizer

MAX_LENGTH = 256  # passage tokens, as the embedding model was trained
BATCH_SIZE = 32  # passages per forward pass


class MaxSimReranker:
    """:class:`~rag.rerank.base.Reranker` by MaxSim over token vectors of the packaged MiniLM.

    Args:
        batch_size: passages per forward pass.
    """

    name = "maxsim"

    def __init__(self, batch_size: int = BATCH_SIZE) -> None:
        # plain torch and the tokenizers library, not transformers (whose modeling imports torch._dynamo)
        self.tokenizer = truncating_tokenizer(MAX_LENGTH)  # shared with the embedder
        self.model = load_bert(model_dir())
        self.batch_size = batch_size

    def _token_vectors(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit token vectors (B, T, H) float32 and a mask (B, T) bool of the tokens that count."""
        encodings = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids, mask, types, special = (
            torch.tensor([[*getattr(e, field), *[pad] * (width - len(e.ids))] for e in encodings])
            for field, pad in (("ids", 0), ("attention_mask", 0), ("type_ids", 0), ("special_tokens_mask", 1))
        )  # padded to the longest with [PAD] (id 0), as transformers' tokenizer pads
        hidden = self.model(ids, mask, types).last_hidden_state  # (B, T, H)
        keep = mask.bool() & ~special.bool()  # (B, T)
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
