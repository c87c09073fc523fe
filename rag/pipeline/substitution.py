"""The substitution check: a sentence copied from a passage sentence with some of its words swapped is not supported.

MaxSim and the quote rule of :mod:`rag.pipeline.support` both pass a passage's own sentence with its
answer replaced by a span from elsewhere ("Normandy was named after the Vikings" for "... after the
Normans"): most of its words are copied, so both kinds of evidence are high, and only the swapped
span is new. This check aligns the sentence with the single passage sentence it quotes most (the
share of its words that lie in runs of ``RUN_WORDS`` or more words shared with that sentence) and,
when that share reaches ``ALIGN_SHARE``, names the sentence's content words (not in
:data:`STOP_WORDS`, not numbers: :mod:`rag.pipeline.numbers` checks those) that neither that
sentence nor its ``NEIGHBOURS`` on each side holds. Aligning with one passage sentence, not the
whole passage, also catches a span moved in from another sentence of the same passage.

A sentence that quotes no passage sentence at length (a short restatement such as "Cisco provided
the codec" for "In 2013 Cisco provided a binary H.264 codec module", or a paraphrase) is left to the
other checks. Words are matched as :mod:`rag.pipeline.terms` matches a name's words: without accents,
singular or plural, or a word of 3 letters or more that the other starts ("highest" for "high").
Constants were chosen on pairs built from SQuAD 1.1 *training* paragraphs (``benchmarks/support_pairs.py``).
"""

from __future__ import annotations

import re

from rag.pipeline.sentences import split_sentences
from rag.pipeline.terms import COMMON_WORDS, _fold, _has_word

# Chosen on 200 training paragraphs (~1,000 pairs): of RUN_WORDS 2-4 and ALIGN_SHARE 0.3-0.7, the best precision
# at recall >= 0.75 (0.867 at 0.771; without swap-within pairs 0.997). Shorter runs happen by chance ("of the
# river", "The Hotel in Berlin cost 1310" is a restatement of a table row, not a copy).
RUN_WORDS = 4  # a run of this many words shared with a passage sentence is a quote
ALIGN_SHARE = 0.5  # share of a sentence's words in shared runs from which it counts as a quote of that sentence
# Passage sentences before and after the aligned one whose words count as its own. Not fitted: the pairs hold
# no restatement that resolves a pronoun ("It was built from 1887" names its subject in the sentence before, so
# "The Eiffel Tower was built from 1887" is no substitution); the one before costs a third of swap-within catches.
BEFORE, AFTER = 1, 0
# Function words the terms check's COMMON_WORDS lacks: a restatement may change these freely.
STOP_WORDS = COMMON_WORDS | frozenset(
    "am became become becomes did done few got gets like made me off own same said says whereby well".split()
)
CHANGED_WORDS = "changed words"

_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The words of ``text``, folded (lowercase, no accents)."""
    return [_fold(w) for w in _WORD.findall(text)]


def aligned_share(sentence: list[str], other: list[str]) -> float:
    """Share of ``sentence``'s words that lie in a run of ``RUN_WORDS`` or more words that ``other`` also holds."""
    grams = {tuple(other[i : i + RUN_WORDS]) for i in range(len(other) - RUN_WORDS + 1)}
    covered = [False] * len(sentence)
    for i in range(len(sentence) - RUN_WORDS + 1):
        if tuple(sentence[i : i + RUN_WORDS]) in grams:
            covered[i : i + RUN_WORDS] = [True] * RUN_WORDS
    return sum(covered) / len(sentence) if sentence else 0.0


def changed_words(sentence: str, passage: str) -> tuple[str, ...]:
    """The content words of ``sentence`` that the passage sentence it quotes (and its neighbours) lacks.

    Returns:
        The words in the order ``sentence`` has them, without repeats; empty when the sentence quotes
        no passage sentence (aligned share below ``ALIGN_SHARE``) or adds no content word to it.
    """
    mine = words(sentence)
    spans = split_sentences(passage)
    theirs = [words(passage[a:b]) for a, b in spans]
    if not mine or not theirs:
        return ()
    shares = [aligned_share(mine, t) for t in theirs]
    best = max(range(len(theirs)), key=shares.__getitem__)
    if shares[best] < ALIGN_SHARE:
        return ()
    held = frozenset(w for t in theirs[max(0, best - BEFORE) : best + AFTER + 1] for w in t)
    new = [w for w in mine if len(w) > 1 and w not in STOP_WORDS and not w.isdigit() and not _held(w, held)]
    return tuple(dict.fromkeys(new))


def _held(word: str, held: frozenset[str]) -> bool:
    """``word`` in ``held`` as the terms check matches a name's word, or another form of it: one of the two
    starts the other, the shorter of 3 letters or more and at most 3 letters apart ("high" for "highest")."""
    return _has_word(held, word) or any(_form_of(word, w) or _form_of(w, word) for w in held)


def _form_of(short: str, long: str) -> bool:
    return len(short) >= 3 and len(long) - len(short) <= 3 and long.startswith(short)


def changed_reason(changed: tuple[str, ...]) -> str:
    """The reason given for a sentence that copies a passage sentence with ``changed`` words: short, at most 3 named."""
    return f"{CHANGED_WORDS}: {', '.join(changed[:3])}"
