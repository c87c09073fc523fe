"""The trained reader: obvious answers, no answer, reloading (training: tests/rag/training/test_reader.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.pipeline.reading import READER_THRESHOLD
from rag.reader import Reader
from rag.reader.model import load_model, save_weights
from rag.reader.read import read

pytestmark = pytest.mark.slow

FIREFOX = (
    "Firefox for mobile, code-named Fennec, is a build of the Mozilla Firefox browser for smartphones and tablets. "
    "In 2013 Cisco provided a binary H.264 codec module that Firefox downloads, and Cisco pays the licence fees. "
    "Rhino is a JavaScript engine written in Java and maintained by the Mozilla Foundation."
)
SQUAD = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "squad2-dev-subset" / "dev-v2.0.json"
LIGHTHOUSE = "The lighthouse on the northern cape was built from granite in 1889 and automated in 1965."


@pytest.fixture(scope="module")
def reader():
    return Reader()


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Which company provided the H.264 codec?", "Cisco"),
        ("What is the codename of Firefox for mobile?", "Fennec"),
        ("What language is Rhino written in?", "Java"),
        ("When was the lighthouse automated?", "1965"),
    ],
)
def test_an_obvious_answer_is_found_in_the_passage_that_holds_it(reader, question, answer):
    best = reader.best(question, [LIGHTHOUSE, FIREFOX] if answer != "1965" else [FIREFOX, LIGHTHOUSE])
    passages = [LIGHTHOUSE, FIREFOX] if answer != "1965" else [FIREFOX, LIGHTHOUSE]
    assert passages[best.passage][best.start : best.end].strip(" .,") == answer
    assert best.margin >= READER_THRESHOLD


def test_a_question_no_passage_answers_falls_under_the_threshold(reader):
    best = reader.best("Who won the 1998 football World Cup final?", [LIGHTHOUSE, FIREFOX])
    assert best.margin < READER_THRESHOLD


def test_saved_weights_reload_with_equal_scores(reader, tmp_path):
    model = load_model(reader.stem)  # float32 (the Reader keeps its linear layers in bf16 where it reads in bf16)
    save_weights(model, tmp_path / "copy", {"note": "test"})
    again = load_model(tmp_path / "copy")
    assert json.loads((tmp_path / "copy.json").read_text())["format"] == "localrag-span-reader"
    first = read(model, "Which company provided the codec?", [FIREFOX, LIGHTHOUSE])
    second = read(again, "Which company provided the codec?", [FIREFOX, LIGHTHOUSE])
    assert first == second  # fp16 weights saved from fp16-loaded weights: the same numbers


def test_a_long_passage_is_read_in_windows_and_the_span_points_into_it(reader):
    filler = "The committee met again and nothing of note was decided that day. " * 60
    passage = filler + FIREFOX + filler
    (span,) = reader.read("Which company provided the H.264 codec?", [passage])
    assert passage[span.start : span.end].strip(" .,") == "Cisco"
    assert passage.index(FIREFOX) <= span.start < passage.index(FIREFOX) + len(FIREFOX)


def _transformers_reader(stem):
    """The reader as it ran on ``transformers``' ``BertModel`` in float32 (the reference): the same weights."""
    from transformers import AutoModel

    from ingest.embed import model_dir

    model = load_model(stem)
    state = model.state_dict()
    model.encoder = AutoModel.from_pretrained(str(model_dir()), local_files_only=True, add_pooling_layer=False)
    model.load_state_dict(state, strict=True)
    return model.eval()


def test_spans_equal_those_of_the_transformers_model_on_squad_dev(reader):
    import torch

    from rag.reader.read import passage_spans, window_spans

    squad = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    pairs = [(qa["question"], p["context"]) for a in squad[:4] for p in a["paragraphs"][:3] for qa in p["qas"][:2]]
    reference, before = _transformers_reader(reader.stem), torch.get_num_threads()
    torch.set_num_threads(reader.threads)  # as the Reader reads
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=reader.bf16):
            want = [passage_spans(window_spans(reference, [q, q], [p, FIREFOX]), 2) for q, p in pairs]
    finally:
        torch.set_num_threads(before)
    got = [reader.read(q, [p, FIREFOX]) for q, p in pairs]
    assert len(pairs) == 24 and got == want  # spans, scores and null scores, bit for bit
