"""A crafted reranking example, a fake 10-document SciFact folder, and shared loaded rerankers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# One claim and three passages: the one that supports it, one that shares most of its
# words but is about something else, and one about nothing near it.
QUERY = "Vitamin D supplementation reduces the risk of hip fractures in elderly women."
RELEVANT = (
    "Cholecalciferol and calcium to prevent hip fractures in older women. In a randomised controlled trial, "
    "3,270 ambulatory women aged 69 to 106 received vitamin D3 (800 IU) and calcium daily or placebo for 18 "
    "months. Hip fractures were 43% fewer in the treated group, and bone density of the femur increased."
)
DISTRACTOR = (
    "Vitamin D receptor gene polymorphisms in elderly women. We genotyped the vitamin D receptor in women of a "
    "population cohort and measured serum vitamin D. The risk of the variant allele did not differ between age "
    "groups; supplementation, diet and fractures were not recorded."
)
UNRELATED = (
    "Graphene field-effect transistors on silicon carbide switch at terahertz frequencies. We report device "
    "fabrication, contact resistance and noise measurements at room temperature."
)
PASSAGES = [UNRELATED, DISTRACTOR, RELEVANT]  # the right order is the reverse

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


@pytest.fixture(scope="session")
def shipped_reranker():
    from rag.rerank import get_reranker

    return get_reranker("minilm-scifact")


@pytest.fixture(scope="session")
def maxsim_reranker():
    from rag.rerank import get_reranker

    return get_reranker("maxsim")


@pytest.fixture
def crafted() -> tuple[str, list[str]]:
    """(query, [unrelated, lexical distractor, relevant]): a right ranking puts them in reverse order."""
    return QUERY, list(PASSAGES)
