"""Windows of (question, passage) and spans back to exact characters: no model, the tokenizer only.

The windows equal those transformers' fast tokenizer made before the reader read MiniLM's tokenizer.json
through the tokenizers library alone (the reference, :func:`_transformers_windows`, is that code).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.reader.read import passage_spans
from rag.reader.spans import WindowSpan, best_span
from rag.reader.windows import MAX_LENGTH, STRIDE, Window, collate, make_windows, question_head

SQUAD = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "squad2-dev-subset" / "dev-v2.0.json"


@pytest.fixture(scope="module")
def tokenizer():
    from ingest.embed import load_tokenizer

    return load_tokenizer()  # the reader's: MiniLM's tokenizer.json through the tokenizers library


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
    assert question.startswith(head) and len(tokenizer.encode(head, add_special_tokens=False).ids) == 64
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


def _transformers_windows(tokenizer, questions, passages, max_length, stride) -> tuple[list[str], list[Window]]:
    """The reader's windows as they were made through ``transformers``' ``AutoTokenizer`` (the reference)."""
    heads = []
    for q in questions:
        ends = tokenizer(q, add_special_tokens=False, truncation=True, max_length=64, return_offsets_mapping=True)
        heads.append(q[: ends["offset_mapping"][-1][1]] if len(ends["offset_mapping"]) == 64 else q)
    enc = tokenizer(
        heads,
        list(passages),
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    out = []
    for w, k in enumerate(enc["overflow_to_sample_mapping"]):
        seq = enc.sequence_ids(w)
        offsets = tuple(tuple(o) if s == 1 else None for o, s in zip(enc["offset_mapping"][w], seq))
        out.append(Window(int(k), tuple(enc["input_ids"][w]), tuple(enc["token_type_ids"][w]), offsets))
    return heads, out


@pytest.mark.slow  # imports transformers
@pytest.mark.parametrize(("max_length", "stride"), [(MAX_LENGTH, STRIDE), (128, 32)])
def test_windows_equal_those_of_transformers_tokenizer(tokenizer, max_length, stride):
    from transformers import AutoTokenizer

    from ingest.embed import model_dir

    reference = AutoTokenizer.from_pretrained(str(model_dir()), local_files_only=True)
    squad = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    pairs = [(qa["question"], p["context"]) for a in squad[:3] for p in a["paragraphs"][:4] for qa in p["qas"][:2]]
    pairs += [("Why " * 80 + "is the sky blue?", UNICODE * 12), ("Zürich’s café?", UNICODE), ("x", "")]
    questions, passages = [q for q, _ in pairs], [p for _, p in pairs]
    heads, want = _transformers_windows(reference, questions, passages, max_length, stride)
    assert [question_head(tokenizer, q) for q in questions] == heads
    got = make_windows(tokenizer, heads, passages, max_length, stride)
    assert len(got) > len(pairs) and got == want


def test_a_question_that_leaves_no_room_past_the_stride_is_refused(tokenizer):
    with pytest.raises(ValueError, match="leaves 13 of 64"):
        make_windows(tokenizer, ["why " * 48], ["word " * 100], max_length=64, stride=16)
