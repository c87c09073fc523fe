"""Windows of (question, passage) and spans back to exact characters: no model, the tokenizer only."""

from __future__ import annotations

import numpy as np
import pytest

from rag.reader.read import passage_spans
from rag.reader.spans import WindowSpan, best_span
from rag.reader.windows import collate, make_windows, question_head


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from ingest.embed import model_dir

    return AutoTokenizer.from_pretrained(str(model_dir()), local_files_only=True)


UNICODE = "Zürich’s café — naïve 🦊 Fennec, 東京 and Ῥόδος: the codename was Fennec (Firefox Mobile). "


def test_every_answer_maps_back_to_its_exact_characters_in_every_window(tokenizer):
    passage = UNICODE * 30  # about 900 tokens: several windows
    windows = make_windows(tokenizer, ["What was the codename?"], [passage], max_length=96, stride=32)
    assert len(windows) > 5 and {w.passage for w in windows} == {0}
    found = 0
    for at in range(len(passage)):
        if not passage.startswith("Fennec", at):
            continue
        holding = [w for w in windows if w.token_span(at, at + 6) is not None]
        assert holding, f"no window holds the answer at {at}"
        for w in holding:
            a, b = w.char_span(*w.token_span(at, at + 6))
            assert passage[a:b] == "Fennec" and (a, b) == (at, at + 6)
            found += 1
    assert found >= 60  # every occurrence, some in two windows (the stride overlaps them)


def test_windows_overlap_by_the_stride_and_cover_the_whole_passage(tokenizer):
    passage = " ".join(f"word{i}" for i in range(400))
    windows = make_windows(tokenizer, ["Which word?"], [passage], max_length=64, stride=16)
    covered = sorted({o for w in windows for o in w.offsets if o is not None})
    assert covered[0][0] == 0 and covered[-1][1] == len(passage)
    for left, right in zip(windows, windows[1:]):
        shared = {o for o in left.offsets if o} & {o for o in right.offsets if o}
        assert len(shared) == 16


def test_a_span_cut_by_a_window_edge_belongs_to_no_window_that_cuts_it(tokenizer):
    passage = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma"
    (first, *_) = make_windows(tokenizer, ["Which letter?"], [passage], max_length=16, stride=4)
    last = max(o[1] for o in first.offsets if o)
    assert first.token_span(0, 5) == (first.offsets.index((0, 5)),) * 2
    assert first.token_span(last - 2, last + 10) is None  # runs past the window: not a label here


def test_a_long_question_is_cut_to_its_head(tokenizer):
    question = "why " * 500 + "is the sky blue?"
    head = question_head(tokenizer, question, limit=64)
    assert question.startswith(head) and len(tokenizer(head, add_special_tokens=False)["input_ids"]) == 64
    assert question_head(tokenizer, "Short?", limit=64) == "Short?"


def test_collate_pads_to_the_longest_window(tokenizer):
    windows = make_windows(tokenizer, ["a?", "b?"], ["one two three", "one"], max_length=32, stride=8)
    batch = collate(windows)
    assert batch["input_ids"].shape == (2, max(len(w.input_ids) for w in windows))
    assert batch["attention_mask"].sum(1).tolist() == [len(w.input_ids) for w in windows]


def test_the_best_span_is_the_highest_start_plus_end_within_the_length_limit(tokenizer):
    passage = "The H.264 codec was provided by Cisco to Mozilla in 2013."
    (w,) = make_windows(tokenizer, ["Who provided the codec?"], [passage])
    n = len(w.input_ids)
    start, end = np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
    i = next(k for k, o in enumerate(w.offsets) if o and passage[o[0] : o[1]] == "cisco".title())
    start[i], end[i] = 5.0, 4.0
    start[0], end[0] = 1.0, 1.0  # [CLS]: the null span
    end[1] = 9.0  # an end inside the question is never taken
    span = best_span(w, start, end)
    assert passage[span.start : span.end] == "Cisco" and span.score == 9.0 and span.null == 2.0
    assert span.margin == 7.0


def test_passage_spans_keep_the_best_span_and_the_lowest_null_of_each_passage():
    spans = [WindowSpan(0, 0, 3, 2.0, 1.0), WindowSpan(0, 5, 9, 4.0, 3.0), WindowSpan(2, 1, 2, 0.5, 0.0)]
    best = passage_spans(spans, 3)
    assert best[0] == WindowSpan(0, 5, 9, 4.0, 1.0) and best[1] is None and best[2] == spans[2]
    assert best[0].margin == 3.0
