"""HyDE (Gao, Ma, Lin and Callan, 2022): search with the embedding of a hypothetical answer.

The local model writes ``n`` short passages that answer the question as a
document would; their embeddings are averaged with the question's own, and that
mean (re-normalised) is the dense query. The passages may be wrong: what helps
is that they are phrased like documents, so their embedding lands nearer the
real ones. With a 135M model the passages are often vague; see
benchmarks/README.md ("Retrieval on BEIR SciFact") for what it gains and costs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ingest.embed import Embedder
from rag.generate.base import ChatMessage, GenerationConfig, Generator
from rag.pipeline.request import question_head

# A 135M instruct model follows a one-line request best; asking for "a passage
# from a scientific article or encyclopedia" made it write in that register instead of
# chatting ("Sure! Here is..."), which is what the embedding needs.
HYDE_INSTRUCTION = "Write a short passage from an encyclopedia or a scientific article that answers this:"
HYDE_TOKENS = 64  # a short passage: ~3 sentences; the cost of HyDE is these tokens' decode time


def hyde_messages(question: str) -> list[ChatMessage]:
    return [ChatMessage("user", f"{HYDE_INSTRUCTION}\n\n{question}")]


@dataclass(frozen=True)
class HyDE:
    """Writes hypothetical passages with the local model (greedy, so a question always gets the same ones).

    Args:
        generator: returns the generator; called on first use, so building the stage loads no model.
        n: passages per question.
        max_tokens: length of each passage.
    """

    generator: Callable[[], Generator]
    n: int = 1
    max_tokens: int = HYDE_TOKENS

    def __call__(self, question: str) -> list[str]:
        generator = self.generator()
        messages = hyde_messages(question_head(question, generator.count_tokens))  # a long question: its beginning
        passages = []
        for i in range(self.n):
            # Greedy for the first passage; later ones sample (a temperature of 0.7) so they differ.
            config = GenerationConfig(
                max_tokens=self.max_tokens,
                temperature=0.0 if i == 0 else 0.7,
                seed=i,
                stop_repeat_ngram=12,
                repetition_penalty=1.1,
                penalize_prompt=False,
            )
            text = generator.generate(messages, config).text.strip()
            if text:
                passages.append(text)
        return passages


def combine(question_vector: np.ndarray, passage_vectors: np.ndarray) -> np.ndarray:
    """Mean of the question's and the passages' unit vectors, re-normalised: float32 (dim,)."""
    stacked = np.vstack([question_vector[None, :], passage_vectors]).astype(np.float32)
    mean = stacked.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else question_vector).astype(np.float32)


def embed_with_hyde(embedder: Embedder, question: str, passages: list[str]) -> np.ndarray:
    """The HyDE query vector of ``question`` and its hypothetical ``passages``, float32 (dim,)."""
    vectors = embedder.embed_queries([question, *passages])
    return combine(vectors[0], vectors[1:])
