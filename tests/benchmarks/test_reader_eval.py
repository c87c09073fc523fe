"""The reader's measurement harness: COVID-QA loading, the margin calibration, abstention after the fact for reader
rows, gold-paragraph sets, and (slow) a reader-only ``rag eval qa`` run that never loads the generator."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.reader_eval import load_gold
from benchmarks.reader_eval import markdown_table as reader_table
from rag.eval.qa import abstains, calibrate_reader, calibration, markdown_table, shipped_threshold, summarize
from rag.eval.qa_datasets import load
from rag.pipeline.answer import ABSTAIN_THRESHOLD
from rag.pipeline.reading import READER_THRESHOLD
from rag.reader.data import QAExample
from rag.reader.evaluate import balanced_accuracy, fit_scale, score_predictions
from tests.conftest import shared_path


def reader_row(answers: list[str], margin: float | None, relevance: float | None = None, supported: int = 1) -> dict:
    """A reader row as ``qa_eval.ask`` writes it (only the fields abstention and the summary read)."""
    row = {"mode": "reader", "answers": answers, "margin": margin, "relevance": relevance, "supported": supported}
    row |= {"sentences": 1, "citations": 1, "correct_citations": 1, "seconds": 0.1, "gold_in_passages": True}
    if answers:
        row |= {"em": 1.0, "f1": 1.0, "contains": 1.0}
    return row


# -- COVID-QA ---------------------------------------------------------------------


def test_covidqa_folder_loads_every_article_and_its_300_answerable_questions():
    folder = shared_path("covidqa-60")
    qa = load(folder)
    assert qa.name == "covidqa-60"
    assert len(qa.contexts) == 60 and all(name.endswith(".txt") for name in qa.contexts)
    assert len(qa.items) == 300 and len({q.id for q in qa.items}) == 300
    assert all(len(q.answers) == 1 and q.answers[0] for q in qa.items)  # none unanswerable
    lines = [json.loads(line) for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    by_id = {q.id: q for q in qa.items}
    for line in lines:  # SOURCE.md: every gold span occurs verbatim in its own article
        assert line["answers"][0] in qa.contexts[line["doc"]], line["id"]
        assert by_id[line["id"]].question == line["question"]


def test_covidqa_refuses_a_part_and_a_question_on_a_missing_article(tmp_path):
    with pytest.raises(SystemExit, match="leave --part out"):
        load(shared_path("covidqa-60"), part="report")
    (tmp_path / "documents").mkdir()
    (tmp_path / "documents" / "1.txt").write_text("Masks reduce spread.", encoding="utf-8")
    q = {"id": "7", "doc": "2.txt", "question": "What reduces spread?", "answers": ["Masks"]}
    (tmp_path / "questions.jsonl").write_text(json.dumps(q) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="2.txt"):
        load(tmp_path)


# -- the margin's calibration -------------------------------------------------------


def test_fit_scale_recovers_the_slope_of_synthetic_margins():
    rng = np.random.default_rng(0)
    margins = rng.uniform(-8, 8, 20_000)
    labels = rng.random(20_000) < 1 / (1 + np.exp(-1.7 * (margins - 0.5)))
    assert fit_scale(margins, labels, 0.5) == pytest.approx(1.7, rel=0.08)
    # no span at all (margin -inf) is decided whatever the slope: it does not move the fit
    with_none = np.concatenate([margins, np.full(500, -np.inf)])
    assert fit_scale(with_none, np.concatenate([labels, np.zeros(500, bool)]), 0.5) == pytest.approx(
        fit_scale(margins, labels, 0.5)
    )


def test_fit_scale_is_zero_for_margins_that_do_not_rise_with_answerability_and_finite_when_they_separate():
    margins = np.array([-3.0, -1.0, 1.0, 3.0])
    assert fit_scale(margins, np.array([True, True, False, False]), 0.0) == 0.0
    separated = fit_scale(margins, np.array([False, False, True, True]), 0.0)
    assert np.isfinite(separated) and separated > 1.0


def test_balanced_accuracy_counts_answered_answerable_and_abstained_unanswerable():
    assert balanced_accuracy(np.array([1.0, 2.0, -1.0]), np.array([-2.0, 0.5]), 0.0) == pytest.approx(
        (2 / 3 + 1 / 2) / 2
    )


# -- reader rows: abstention after the fact, from the margin --------------------------


def test_reader_rows_abstain_by_margin_not_by_relevance_or_support():
    low_relevance = reader_row(["x"], margin=2.0, relevance=0.0, supported=0)
    assert not abstains(low_relevance, 1.0)  # a generating row with these would abstain
    assert abstains(reader_row(["x"], margin=0.5), 1.0)
    assert abstains(reader_row(["x"], margin=None), -100.0)  # no span: nothing to answer with
    generating = dict(low_relevance, mode="extract")
    assert abstains(generating, 0.5)
    assert shipped_threshold("reader") == READER_THRESHOLD and shipped_threshold("auto") == ABSTAIN_THRESHOLD


def test_summary_reports_answerable_and_unanswerable_apart_with_balanced_accuracy():
    rows = [reader_row(["a"], m) for m in (3.0, 1.5, -0.5, 2.0)] + [reader_row([], m) for m in (-2.0, 0.4, 1.2)]
    s = summarize(rows, 1.0)
    assert (s["answerable"], s["unanswerable"]) == (4, 3)
    a = s["abstention"]
    assert a["answered_answerable"] == 0.75 and a["abstained_unanswerable"] == pytest.approx(2 / 3)
    assert a["balanced_accuracy"] == pytest.approx((0.75 + 2 / 3) / 2)
    assert s["em_with_abstention"] == 0.75 and s["gold_in_passages"] == 1.0
    table = markdown_table({"configs": [{"name": "reader", **s}]})
    assert "| reader | 1.000 | 1.000 | 1.000 | 1.000 |" in table and "| 0.708 |" in table


def test_reader_calibration_puts_the_threshold_between_the_classes_and_fits_a_slope():
    rows = [reader_row(["a"], m) for m in (2.0, 2.5, 3.0, 1.5, -0.2)] + [reader_row([], m) for m in (-1.0, 0.8)]
    rows.append(reader_row([], None))  # no span: counted as abstained on, left out of the slope's fit
    cal = calibration(rows)
    assert cal == calibrate_reader(rows)
    assert 0.8 < cal["threshold"] < 1.5 and cal["balanced_accuracy"] == pytest.approx((4 / 5 + 1) / 2)
    assert cal["scale"] > 0
    generating = [dict(r, mode="extract", relevance=0.5 + (r["margin"] or 0) / 10) for r in rows]
    assert "scale" not in calibration(generating)  # relevance rows keep their own calibration


# -- gold paragraphs ------------------------------------------------------------------


def test_gold_parts_split_the_squad_file_by_article_and_keep_every_reference():
    path = shared_path("squad2-dev-subset")
    calibrate, report = load_gold(path, "calibrate"), load_gold(path, "report")
    assert report.name == "squad2-dev-subset-report"
    assert {e.title for e in calibrate.examples}.isdisjoint({e.title for e in report.examples})
    assert len(calibrate.examples) + len(report.examples) == len(load_gold(path).examples) == 6078
    assert sum(e.answer_start is None for e in report.examples) == 1641
    assert max(len(r) for r in report.references.values()) > 1  # SQuAD dev: several references per question
    assert len(load_gold(path, "report", sample=50).examples) == 50
    with pytest.raises(SystemExit, match="SQuAD-format"):
        load_gold(path / "nothing-here")


def test_gold_scores_take_the_best_reference_and_the_shipped_threshold():
    examples = [
        QAExample("1", "Who?", "Ada Lovelace wrote it.", 0, "Ada Lovelace"),
        QAExample("2", "When?", "In 1843.", 3, "1843"),
        QAExample("3", "Why?", "No reason given.", None, ""),
    ]
    preds = [("Lovelace", 2.0), ("1843", -1.0), ("reason", -3.0)]
    own = score_predictions(examples, preds, threshold=0.0)
    assert own["em"] == 0.5 and own["shipped_balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert (own["shipped_answered"], own["shipped_abstained"]) == (0.5, 1.0)
    refs = {"1": ("Ada Lovelace", "Lovelace"), "2": ("1843",)}
    assert score_predictions(examples, preds, references=refs)["em"] == 1.0
    assert "shipped_threshold" not in score_predictions(examples, preds)
    table = reader_table([dict(own, data="toy", questions_per_s=10.0)])
    assert "| toy | 2 / 1 | 0.500 | 0.833 | 0.500 (t=0) | 0.750 (t=0) | 1.000 (t=-2) | 10.0 |" in table


def test_speed_passages_hold_exactly_the_asked_number_of_tokens():
    from benchmarks.reader_speed import passages_of
    from ingest.embed.files import load_tokenizer

    tokenizer = load_tokenizer()  # the reader's own
    texts = [c for c in load(shared_path("xquad-en")).contexts.values()][:20]
    passages = passages_of(tokenizer, texts, 5, 256)
    assert len(passages) == 5 and len(set(passages)) == 5
    for p in passages:
        assert len(tokenizer.encode(p, add_special_tokens=False).ids) == 256
    with pytest.raises(SystemExit, match="need more"):
        passages_of(tokenizer, texts[:1], 5, 256)


# -- with the models ----------------------------------------------------------------------

SQUAD_TOY = {
    "version": "v2.0",
    "data": [
        {
            "title": "Lovelace",
            "paragraphs": [
                {
                    "context": "Ada Lovelace published the first computer program in 1843. She worked with "
                    "Charles Babbage on the Analytical Engine.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "In what year did Ada Lovelace publish the first computer program?",
                            "is_impossible": False,
                            "answers": [{"text": "1843", "answer_start": 53}],
                        },
                        {
                            "id": "q3",
                            "question": "Who did Ada Lovelace work with?",
                            "is_impossible": False,
                            "answers": [{"text": "Charles Babbage", "answer_start": 75}],
                        },
                        {
                            "id": "q4",
                            "question": "On which machine did Lovelace and Babbage work?",
                            "is_impossible": False,
                            "answers": [{"text": "the Analytical Engine", "answer_start": 94}],
                        },
                        {
                            "id": "q2",
                            "question": "What did Ada Lovelace eat for breakfast in 1843?",
                            "is_impossible": True,
                            "answers": [],
                        },
                    ],
                }
            ],
        }
    ],
}


@pytest.mark.slow
def test_a_reader_only_qa_run_records_margins_and_never_loads_the_generator(tmp_path):
    from rag.eval.qa import run
    from rag.generate import shared_generator
    from rag.settings import Settings

    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "dev.json").write_text(json.dumps(SQUAD_TOY), encoding="utf-8")
    shared_generator.cache_clear()  # a generator loaded by an earlier test would hide one loaded here
    settings = Settings.from_env().replace(data_dir=tmp_path / "unused")
    out = tmp_path / "qa.json"
    report = run(settings, tmp_path / "toy", ["reader"], 2, out, None, k=1, cache_root=tmp_path / "cache")
    assert shared_generator.cache_info().currsize == 0
    (summary,) = report["configs"]
    assert summary["name"] == "reader" and (summary["answerable"], summary["unanswerable"]) == (1, 1)
    assert set(summary["calibrated"]) == {"threshold", "balanced_accuracy", "scale"}
    rows = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    assert all(r["mode"] == "reader" and isinstance(r["margin"], float) for r in rows)
    assert all(r["relevance"] is None for r in rows)


@pytest.mark.slow
def test_the_shipped_reader_finds_an_obvious_answer_on_its_gold_paragraph(tmp_path):
    """Needs the trained weights (the smoke weights answer at random)."""
    from benchmarks.reader_eval import evaluate

    path = tmp_path / "dev.json"
    path.write_text(json.dumps(SQUAD_TOY), encoding="utf-8")
    report = evaluate(load_gold(path))
    assert report["answerable"] == 3 and report["unanswerable"] == 1
    assert report["em"] == 1.0, report
