"""The reader's training recipe and what it trains on: one labelled window per example, batched by length."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.reader.data import VALIDATION_FILE, QAExample, read_squad
from rag.reader.windows import Window, make_windows, question_head

VALIDATION_NEGATIVES = ("squad11-train-negatives-b1.json", 300)  # never in the mix: the "b" half of the negatives


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters; all of them go into the weights' metadata."""

    lr: float = 1e-4  # AdamW, linear warm-up then linear decay to 0 (MiniLM-L6 fine-tunes well at 1e-4)
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    batch_size: int = 32  # windows per optimizer step
    max_length: int = 256  # tokens of question + window
    stride: int = 96
    max_steps: int = 6000  # upper bound; the time budget usually ends training first
    chunk_batches: int = 25  # batches cut and sorted together; a checkpoint after each chunk
    evals: int = 3  # validation passes at even steps of progress (the best is kept)
    max_grad_norm: float = 1.0
    mix: dict = field(default_factory=lambda: {"squad": 0.5, "negatives": 0.3, "shifts": 0.15, "tydi": 0.05})

    def describe(self) -> dict:
        return dict(
            asdict(self),
            loss="mean of cross-entropy over start and end positions; unanswerable windows point both at [CLS]",
            precision="bfloat16 autocast (CPU), float32 weights and AdamW state",
            word_embeddings="frozen",
        )


def training_window(tokenizer, ex: QAExample, recipe: Recipe, rng: random.Random) -> tuple[Window, int, int]:
    """One window of ``ex`` and its labels: a window holding the answer (the answer's tokens), else [CLS] (0, 0)."""
    windows = make_windows(
        tokenizer, [question_head(tokenizer, ex.question)], [ex.context], recipe.max_length, recipe.stride
    )
    if ex.answer_start is not None:
        labelled = [(w, w.token_span(ex.answer_start, ex.answer_end)) for w in windows]
        holding = [(w, s) for w, s in labelled if s is not None]
        if holding:
            w, (i, j) = rng.choice(holding)
            return w, i, j
    return rng.choice(windows), 0, 0


def batches_of(tokenizer, examples: list[QAExample], recipe: Recipe, rng: random.Random):
    """Labelled batches of a chunk, sorted by length (then shuffled as batches)."""
    rows = sorted((training_window(tokenizer, ex, recipe, rng) for ex in examples), key=lambda r: len(r[0].input_ids))
    out = [rows[k : k + recipe.batch_size] for k in range(0, len(rows), recipe.batch_size)]
    rng.shuffle(out)
    return out


def validation_set(data: Path) -> list[QAExample]:
    name, n = VALIDATION_NEGATIVES
    return read_squad(data / VALIDATION_FILE) + read_squad(data / name)[:n]
