"""A fake 10-document SciFact folder for the reranker's training data, groups and run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FAKE_DOCS = [
    ("101", "Vitamin D and fractures", "Vitamin D supplements lowered hip fracture rates in elderly women."),
    ("102", "Statins and muscle pain", "Statin therapy was associated with myalgia in a minority of patients."),
    ("103", "Aspirin and bleeding", "Daily aspirin increased gastrointestinal bleeding in older adults."),
    ("104", "Smoking and lung cancer", "Tobacco smoking is the main cause of lung cancer worldwide."),
    ("105", "Exercise and depression", "Aerobic exercise reduced symptoms of depression in a randomised trial."),
    ("106", "Sleep and memory", "Sleep after learning consolidates declarative memory in young adults."),
    ("107", "Coffee and liver", "Coffee drinking was linked to lower rates of liver cirrhosis."),
    ("108", "Salt and blood pressure", "Reducing dietary salt lowered blood pressure in hypertensive patients."),
    ("109", "Antibiotics and microbiome", "Antibiotic courses reduced gut microbiome diversity for months."),
    ("110", "Folate and neural tube", "Folic acid before conception prevented neural tube defects."),
]
FAKE_TRAIN = {  # claim id -> (text, relevant doc)
    "1": ("Vitamin D prevents hip fractures in older women.", "101"),
    "3": ("Statins cause muscle pain in some patients.", "102"),
    "5": ("Aspirin raises the risk of bleeding.", "103"),
    "7": ("Smoking causes lung cancer.", "104"),
    "9": ("Exercise helps against depression.", "105"),
    "11": ("Sleep improves memory consolidation.", "106"),
    "13": ("Coffee protects the liver.", "107"),
    "15": ("Less salt lowers blood pressure.", "108"),
}
FAKE_TEST_CLAIM = ("2", "Folic acid prevents neural tube defects.", "110")


@pytest.fixture
def fake_scifact(tmp_path: Path) -> Path:
    """A BEIR-layout folder with 10 documents, 8 train claims and one test claim.

    ``qrels/test.tsv`` is a directory, so any attempt to read it fails loudly.
    """
    root = tmp_path / "scifact"
    (root / "qrels" / "test.tsv").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for doc_id, title, text in FAKE_DOCS:
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text, "metadata": {}}) + "\n")
    with (root / "queries.jsonl").open("w", encoding="utf-8") as f:
        for qid, (text, _) in [*FAKE_TRAIN.items(), (FAKE_TEST_CLAIM[0], FAKE_TEST_CLAIM[1:])]:
            f.write(json.dumps({"_id": qid, "text": text, "metadata": {}}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q, (_, d) in FAKE_TRAIN.items()]
    (root / "qrels" / "train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
