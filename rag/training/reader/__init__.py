"""Train the span reader on the extractive QA training mix and save the shipped weights.

    python -m rag.training.reader --data ../shared/data/qa-train --out rag/reader/weights/minilm-squad \
        [--max-minutes 85] [--seed 0] [--checkpoint DIR] [--max-steps N]

Examples are drawn from the groups of :data:`rag.reader.data.TRAIN_FILES` in
the proportions of :attr:`Recipe.mix`, in a seeded order fixed at the start.
They are read in chunks: each chunk is cut into windows, sorted by length
into batches (little padding), and trained on. After every chunk the run
writes a checkpoint (weights, optimizer, position, schedule) to
``--checkpoint``; the same command started again continues from it, and a
larger ``--max-minutes`` lets a finished run go on. The learning rate follows
progress in steps or in time, whichever is further
(:class:`rag.training.progress.Progress`), so the run ends within its budget on
a busy machine. Matrix products run in bfloat16 (autocast; weights and
optimizer in float32). The checkpoint with the best validation score (TyDi
GoldP English dev, answerable, plus synthetic negatives the run never trains
on) is saved.

Read in order: :mod:`recipe` (hyper-parameters, labelled windows and batches), :mod:`fit`
(the loop, its checkpoint and its validation) and :mod:`train` (data, metadata and the
command line).
"""

from rag.training.reader.recipe import Recipe
from rag.training.reader.train import main, train

__all__ = ["Recipe", "main", "train"]
