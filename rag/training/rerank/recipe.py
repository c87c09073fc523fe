"""The training recipe of the SciFact cross-encoder and the groups it trains on.

A training example is a *group*: one claim, one document judged relevant to it
and ``negatives`` hard negatives drawn from the top of its BM25 and dense
lists (judged positives excluded). The loss is softmax cross-entropy over the
group's scores with the positive as the target (listwise, as in Nogueira et
al.'s "localized contrastive estimation"): it asks the model to put the
positive above documents a first stage would confuse with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from rag.training.rerank.data import TrainSet
from rag.training.rerank.mining import Rankings, negative_pool


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters; all of them go into the weights' metadata."""

    lr: float = 5e-5  # encoder; AdamW, linear warm-up then linear decay to 0 (top of the usual range: the run is short)
    head_lr: float = 1e-3  # the head (weights 20 at the start) may reweigh dimensions faster than the encoder moves
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1  # of the planned optimizer steps
    groups_per_step: int = 4  # groups per optimizer step: 4 x (1 + 7) = 32 pairs per forward
    negatives: int = 7  # hard negatives per group
    negative_depth: int = 30  # negatives come from the top this many of BM25 and of dense search
    max_length: int = 256  # tokens of query + passage (passage truncated)
    epochs: int = 2  # upper bound; the time budget usually ends training first
    val_fraction: float = 0.1  # of the train claims, held out to pick the checkpoint
    val_candidates: int = 50  # validation reranks the top this many of RRF(BM25, dense)
    evals: int = 2  # validation passes, at even steps of progress (the best one is kept); each costs minutes
    max_grad_norm: float = 1.0

    def describe(self) -> dict:
        """The recipe as JSON-ready fields, with the loss named."""
        return dict(asdict(self), loss="listwise softmax cross-entropy (1 positive + negatives), target = positive")


@dataclass(frozen=True)
class Group:
    """Corpus positions of one training group: the positive first, then the negatives."""

    query: str
    positions: tuple[int, ...]


class GroupSampler:
    """Draws an epoch of groups: every (claim, positive) once, negatives resampled each epoch.

    Args:
        train: the training claims and judgements.
        rankings: BM25 and dense top lists, rows in ``train.queries`` order.
        position: doc id -> corpus position.
        n_docs: corpus size (padding negatives for claims with a short pool are drawn from it).
        recipe: supplies ``negatives`` and ``negative_depth``.
    """

    def __init__(self, train: TrainSet, rankings: Rankings, position: dict[str, int], n_docs: int, recipe: Recipe):
        self.recipe = recipe
        self.n_docs = n_docs
        self.items: list[tuple[str, int, np.ndarray]] = []  # (query text, positive, negative pool)
        for row, qid in enumerate(train.queries):
            positives = {position[d] for d in train.qrels[qid] if d in position}
            pool = negative_pool(rankings.bm25[row], rankings.dense[row], positives, recipe.negative_depth)
            for d in sorted(positives):
                self.items.append((train.queries[qid], d, pool))
        self._positives = {
            train.queries[q]: {position[d] for d in train.qrels[q] if d in position} for q in train.queries
        }

    def __len__(self) -> int:
        return len(self.items)

    def epoch(self, rng: np.random.Generator) -> list[Group]:
        """All groups in a random order with freshly drawn negatives."""
        groups = []
        for i in rng.permutation(len(self.items)):
            query, positive, pool = self.items[i]
            n = self.recipe.negatives
            chosen = list(rng.choice(pool, size=min(n, len(pool)), replace=False)) if len(pool) else []
            taken = set(chosen) | self._positives[query]
            while len(chosen) < n and len(taken) < self.n_docs:  # a short pool: fill with random documents
                extra = int(rng.integers(self.n_docs))
                if extra not in taken:
                    chosen.append(extra)
                    taken.add(extra)
            groups.append(Group(query, (positive, *map(int, chosen))))
        return groups
