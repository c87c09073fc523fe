"""The training data: only train judgements are read, and the split holds whole claims out."""

from __future__ import annotations

import csv
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from rag.training.rerank.data import TRAIN_QRELS, load_corpus, load_train_set
from tests.conftest import shared_path

_OPENED: list[list[str]] = []  # stack of recorders; an audit hook cannot be removed, so it records only inside one


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _OPENED and isinstance(args[0], str | Path):
        _OPENED[-1].append(str(args[0]))


sys.addaudithook(_audit)


@contextmanager
def files_opened():
    """Every path opened (by any means) inside the block."""
    opened: list[str] = []
    _OPENED.append(opened)
    try:
        yield opened
    finally:
        _OPENED.pop()


def test_the_loader_opens_train_qrels_and_never_test_qrels(fake_scifact):
    with files_opened() as opened:
        train = load_train_set(fake_scifact)
    names = {Path(p).relative_to(fake_scifact).as_posix() for p in opened if p.startswith(str(fake_scifact))}
    assert names == {"queries.jsonl", TRAIN_QRELS.as_posix()}
    assert "2" not in train.queries  # the test claim is in queries.jsonl but has no train judgement


def test_scifact_train_claims_do_not_meet_the_test_claims():
    root = shared_path("scifact")
    with files_opened() as opened:
        train = load_train_set(root)
        load_corpus(root)
    assert not any("test" in Path(p).name for p in opened)
    with (root / "qrels" / "test.tsv").open(encoding="utf-8") as f:  # the test reads it, to check
        test_ids = {row[0] for row in list(csv.reader(f, delimiter="\t"))[1:]}
    assert len(train.queries) == 809 and len(test_ids) == 300
    assert not set(train.queries) & test_ids
    assert sum(len(v) for v in train.qrels.values()) == 919


def test_the_split_is_seeded_and_holds_whole_claims_out(fake_scifact):
    train = load_train_set(fake_scifact)
    a_train, a_val = train.split(0.25, seed=0)
    b_train, b_val = train.split(0.25, seed=0)
    assert a_val.queries == b_val.queries and a_train.queries == b_train.queries
    assert not set(a_train.queries) & set(a_val.queries)
    assert set(a_train.queries) | set(a_val.queries) == set(train.queries)
    assert len(a_val.queries) == 2
    assert {q for q, _ in a_train.pairs()} == set(a_train.queries)


def test_corpus_texts_are_title_then_text(fake_scifact):
    corpus = load_corpus(fake_scifact)
    assert len(corpus) == 10
    assert (
        corpus.texts[0] == "Vitamin D and fractures Vitamin D supplements lowered hip fracture rates in elderly women."
    )


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_a_bad_split_fraction_is_refused(fake_scifact, fraction):
    from core.errors import ConfigError

    with pytest.raises(ConfigError):
        load_train_set(fake_scifact).split(fraction, seed=0)
