"""Text -> index terms for lexical (BM25) retrieval: the analyzer.

``Analyzer`` follows Lucene's ``EnglishAnalyzer``, which is what the BEIR
BM25 baselines (Anserini) ran: Unicode normalisation, case folding, word
splitting, English stop words, possessive removal, Snowball stemming. Its
``name`` is saved with every index built from its terms, so that a query is
analysed the way the documents were; a change to what it produces must come
with a new name (``en-snowball-2``), and :func:`analyzer_for` refuses names it
does not know.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence

from core.errors import ConfigError, MissingDependencyError

# Lucene's EnglishAnalyzer default stop set (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET). It is
# short on purpose: larger lists (Snowball's 174 words) also drop "not", "no", "after",
# "between", "against", which carry meaning in queries ("not associated with", "after surgery").
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)

# Han ideographs and kana have no spaces between words; like Lucene's StandardTokenizer, each
# character is a term of its own. Every other run of letters and digits is a word; "_" splits
# words too, so "max_tokens" is "max" and "tokens".
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[^\W_]+")
# English possessives ("Alzheimer's" -> "alzheimer"), as Lucene's EnglishPossessiveFilter.
_POSSESSIVE = re.compile(r"['\u2019]s\b")

MAX_TERM_CHARS = 40  # longer "words" are identifiers, hashes or base64: noise for BM25
_CACHE_LIMIT = 500_000  # words whose stems are remembered; cleared when full


class Analyzer:
    """English analyzer: NFKC, casefold, words, stop words, Snowball stems.

    Single characters are kept: "vitamin D", "hepatitis C", "type 2" and every
    Han character are meaningful terms; the noise they would add ("s" of a
    possessive) is removed before splitting, and "a" is a stop word.

    Thread-safe: the Snowball stemmer keeps internal state, so each thread gets
    its own; the stem cache is a plain dict (single get/set operations are
    atomic) that a batch only reads into a local table.
    """

    name = "en-snowball-1"

    def __init__(self) -> None:
        try:
            import Stemmer  # PyStemmer
        except ImportError as exc:
            raise MissingDependencyError(
                "the lexical analyzer needs PyStemmer (Snowball stemmers): pip install 'PyStemmer>=2.2'"
            ) from exc
        self._stemmer_module = Stemmer
        self._local = threading.local()
        self._cache: dict[str, str] = {}  # normalised word -> stem, "" for a stop word

    def _stem_words(self, words: list[str]) -> list[str]:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = self._stemmer_module.Stemmer("english")
        return stemmer.stemWords(words)

    @staticmethod
    def words(text: str) -> list[str]:
        """Normalised words of ``text`` before stop words and stemming (NFKC, casefolded)."""
        text = unicodedata.normalize("NFKC", text).casefold()
        text = _CJK.sub(r" \g<0> ", _POSSESSIVE.sub("", text))  # spaces make each Han/kana character a word
        return [w for w in _WORD.findall(text) if len(w) <= MAX_TERM_CHARS]

    def terms(self, text: str) -> list[str]:
        """The index terms of one text, in order (repeats kept: they are term frequencies)."""
        return self.terms_batch([text])[0]

    def terms_batch(self, texts: Sequence[str]) -> list[list[str]]:
        """The index terms of each text; stems each distinct word once per batch (and caches it)."""
        per_text = [self.words(t) for t in texts]
        table: dict[str, str] = {}
        missing = []
        for w in {w for ws in per_text for w in ws}:
            stem = self._cache.get(w)
            if stem is None:
                missing.append(w)
            else:
                table[w] = stem
        if missing:
            stems = self._stem_words(missing)
            fresh = {w: ("" if w in STOP_WORDS else s) for w, s in zip(missing, stems)}
            table.update(fresh)
            if len(self._cache) > _CACHE_LIMIT:
                self._cache = {}
            self._cache.update(fresh)
        return [[s for w in ws if (s := table[w])] for ws in per_text]


_ANALYZERS: dict[str, type[Analyzer]] = {Analyzer.name: Analyzer}
_INSTANCES: dict[str, Analyzer] = {}
_LOCK = threading.Lock()


def analyzer_for(name: str) -> Analyzer:
    """The process's analyzer called ``name`` (as saved with an index); unknown names raise."""
    with _LOCK:
        found = _INSTANCES.get(name)
        if found is None:
            cls = _ANALYZERS.get(name)
            if cls is None:
                raise ConfigError(
                    f"unknown analyzer {name!r} (known: {', '.join(sorted(_ANALYZERS))}); the index was "
                    "built by another release: upgrade, or rebuild the lexical index"
                )
            found = _INSTANCES[name] = cls()
        return found
