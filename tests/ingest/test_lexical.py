"""The lexical analyzer: Unicode normalisation, case folding, stop words, Snowball stems."""

from __future__ import annotations

import sys
import threading

import pytest

from core.errors import ConfigError, MissingDependencyError
from ingest.lexical import Analyzer, analyzer_for


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer()


def test_lowercases_stems_and_drops_stop_words(analyzer):
    assert analyzer.terms("The Dogs are RUNNING to the parks") == ["dog", "run", "park"]
    assert analyzer.terms("running") == ["run"]
    assert analyzer.terms("the and of it") == []


def test_unicode_is_normalised_and_folded(analyzer):
    assert analyzer.terms("Café") == analyzer.terms("CAFÉ") == analyzer.terms("cafe\u0301") == ["café"]
    assert analyzer.terms("Straße") == analyzer.terms("STRASSE")  # casefold: ß -> ss
    assert analyzer.terms("ﬁle Ｆｕｌｌ") == ["file", "full"]  # NFKC: ligature and full-width letters
    assert analyzer.terms("한국어 자연어 처리") == ["한국어", "자연어", "처리"]
    assert analyzer.terms("東京大学") == ["東", "京", "大", "学"]  # Han: one term per character


def test_words_split_on_underscores_and_possessives_go(analyzer):
    assert analyzer.terms("max_tokens") == ["max", "token"]
    assert analyzer.terms("Alzheimer's disease") == analyzer.terms("Alzheimer disease")


def test_single_characters_kept_long_terms_dropped(analyzer):
    assert analyzer.terms("type 2 vitamin D") == ["type", "2", "vitamin", "d"]
    assert analyzer.terms("x" * 41 + " ok " + "k" * 40) == ["ok", "k" * 40]


def test_batches_equal_single_texts_and_threads_agree(analyzer):
    texts = [f"Running experiments number {i} on the clusters" for i in range(200)]
    batch = analyzer.terms_batch(texts)
    assert batch == [analyzer.terms(t) for t in texts]
    fresh = Analyzer()
    results: list[list[list[str]]] = []
    threads = [threading.Thread(target=lambda: results.append(fresh.terms_batch(texts))) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert all(r == batch for r in results)


def test_analyzers_are_found_by_name():
    assert analyzer_for(Analyzer.name) is analyzer_for("en-snowball-1")
    with pytest.raises(ConfigError, match="unknown analyzer"):
        analyzer_for("fr-snowball-9")


def test_missing_pystemmer_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "Stemmer", None)  # makes `import Stemmer` raise ImportError
    with pytest.raises(MissingDependencyError, match="PyStemmer"):
        Analyzer()
