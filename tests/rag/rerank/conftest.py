"""A crafted reranking example and shared loaded rerankers."""

from __future__ import annotations

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
