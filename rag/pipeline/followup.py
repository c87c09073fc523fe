"""Follow-up questions made standalone: "and who founded it?" asked after "What is Warsaw?" searches for Warsaw.

A chat sends every turn, and its last question often leans on the earlier ones: a
pronoun ("when was *it* built?"), a continuation ("and the population?"), a bare
fragment ("why?") or a place left unnamed ("how many are there?"). Retrieval reads
only the question, so such a follow-up finds nothing about the subject. The 135M
generator is too weak to rewrite questions reliably, so this stage is deterministic:
it finds the noun phrases of the previous standalone question (:func:`noun_phrases`:
capitalised names with the words they head, other runs of content words, code-like
terms) and puts the main one where the follow-up refers back, or after it when
nothing refers back.

What it does not do: resolve which of several earlier subjects a pronoun means (the
main phrase of the previous question wins), or rewrite "what about X?" into the
previous question with X swapped in. benchmarks/followup_eval.py measures what it
buys in retrieval (benchmarks/results/followup-summary.json).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Pronouns that point back to an earlier subject; "it" also stands for nothing ("is it possible to..."),
# which then only adds the subject's words to the query.
PRONOUNS = frozenset("it its they them their theirs he him his she her hers".split())
PERSONAL = frozenset("he him his she her hers".split())
POSSESSIVE = frozenset("its their theirs his her hers".split())
# "this", "that", "these", "those" refer back only where no noun follows ("when was that?", "is this free?")
DEMONSTRATIVES = frozenset("this that these those".split())
CONTINUATION = re.compile(r"^\s*(?:and|also|then|so|but)\b[\s,]*|^\s*(?:what|how)\s+about\b", re.IGNORECASE)
FUNCTION_WORDS = frozenset(
    """a an the this that these those some any each every all both no not of in on at to for from by with about
    as into over under between through during before after since until within without against among per via
    and or but nor so yet if then than whether because while where when what which who whom whose why how
    is are was were be been being am do does did done doing have has had having can could will would shall
    should may might must i me my you your we our us it its they them their he him his she her hers one ones
    there here also just only very much many more most less least other another such same own again ever
    called named known used get got make made also still already""".split()
)
NAME_JOINS = frozenset({"and", "of", "de", "von", "van"})
DO_MODALS = frozenset("do does did can could will would should may might must".split())
AUXILIARIES = DO_MODALS | frozenset("is are was were be been am have has had".split())
# A word of a question: letters, digits and the joints of names and code (Yuan's, vite.config.js, Jean-Paul)
WORD = re.compile(r"[\w][\w.'’\-/]*[\w]|[\w]")
POSSESSIVE_S = re.compile(r"['’]s$")
MARKERS = re.compile(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]")
# "Who founded Apple?": the answer is the person a later "he" means ("Who was Qutb?": Qutb is)
ASKS_WHO_DID = re.compile(r"\s*who\b(?!\s+(?:is|was|are|were)\b)", re.IGNORECASE)
SHORT_ANSWER_WORDS = 6  # an answer this short can be what "he" or "she" stands for


@dataclass(frozen=True)
class Turn:
    """One earlier message of a conversation: ``role`` "user" or "assistant" (others are ignored)."""

    role: str
    text: str


@dataclass(frozen=True)
class Rewrite:
    """A question as retrieval will read it.

    Attributes:
        question: the standalone question (``original`` when nothing needed carrying).
        original: the question as asked.
        subject: the phrase carried in from the history, or None.
        reason: "standalone" (nothing refers back), "no_history", "no_subject" (the history names
            nothing to carry), "pronoun" (a pronoun was replaced), "continuation" (the subject was
            added to a question that does not name it).
    """

    question: str
    original: str
    subject: str | None
    reason: str

    @property
    def rewritten(self) -> bool:
        return self.question != self.original


def _words(text: str) -> list[re.Match[str]]:
    return list(WORD.finditer(text))


def _is_content(word: str) -> bool:
    return word.lower() not in FUNCTION_WORDS and not word.isdigit()


def noun_phrases(question: str) -> list[str]:
    """The noun phrases of a question, main subject first.

    A phrase is a run of content words (no function word inside), less any verb-like
    word that ends it or starts it ("-ed" forms: "the Yuan dynasty *called*"; the last word of a
    question asked with "do" or a modal: "when did the dynasty *end*"). Runs that
    hold a capitalised word past the first word of the question, or a code-like term,
    rank first (names are what follow-ups refer to; most capitalised words first, then by
    place); the others follow, last run first
    (the object of "of"/"in" usually closes an English question).
    """
    words = _words(question)
    runs: list[list[str]] = []
    current: list[str] = []
    for i, match in enumerate(words):
        word = match.group()
        if _joins_names(word, current, words[i + 1 :]):
            current.append(word)  # "French and Indian War", "Church of Scotland": one name
        elif _is_content(word) and (owner := POSSESSIVE_S.sub("", word)) != word:
            runs.append([*current, owner])  # "Warsaw's name": the owner is a phrase of its own
            current = []
        elif _is_content(word):
            current.append(word)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    lowered = {m.group().lower() for m in words}
    if runs and len(runs[-1]) > 1 and lowered & DO_MODALS and _is_content(words[-1].group()):
        runs[-1] = runs[-1][:-1]  # "when did the Yuan dynasty end": after "did", the last word is the verb
    first = words[0].group() if words else ""
    named, plain = [], []
    for run in runs:
        while len(run) > 1 and _verb_like(run[-1]):
            run = run[:-1]
        while len(run) > 1 and _verb_like(run[0]):
            run = run[1:]
        phrase = " ".join(run)
        is_name = any(w[:1].isupper() and w is not first for w in run) or any(c in phrase for c in "._/")
        (named if is_name else plain).append(phrase)
    named.sort(key=lambda phrase: -sum(w[:1].isupper() for w in phrase.split()))  # "Scottish Parliament" > "English"
    return list(dict.fromkeys(named + plain[::-1]))


def _joins_names(word: str, current: list[str], rest: list[re.Match[str]]) -> bool:
    """Whether ``word`` ("and", "of") stands between two capitalised words of one name."""
    return (
        word in NAME_JOINS
        and bool(current)
        and current[-1][:1].isupper()
        and bool(rest)
        and rest[0].group()[:1].isupper()
    )


def _verb_like(word: str) -> bool:
    return len(word) > 4 and word.lower().endswith("ed") and not word[:1].isupper()


def refers_back(question: str) -> str | None:
    """How ``question`` leans on what came before: "pronoun", "continuation", or None (it stands alone)."""
    words = [m.group().lower() for m in _words(question)]
    if any(w in PRONOUNS for w in words):
        return "pronoun"
    for i, word in enumerate(words):
        if word in DEMONSTRATIVES and (i + 1 == len(words) or words[i + 1] in AUXILIARIES):
            return "pronoun"
    if "there" in words or CONTINUATION.match(question) or sum(_is_content(w) for w in words) < 2:
        return "continuation"
    return None


def _answer_subject(answer: str) -> str | None:
    """A previous answer short enough to be the person a "he"/"she" means ("Steve Jobs [1]"), cleaned."""
    text = MARKERS.sub("", answer.split("\nSources:")[0]).strip().rstrip(".")
    return text if text and len(text.split()) <= SHORT_ANSWER_WORDS else None


def _replace_pronoun(question: str, subject: str) -> str:
    """``question`` with its first back-referring pronoun (or demonstrative) replaced by ``subject``."""
    for match in _words(question):
        word = match.group().lower()
        if word in PRONOUNS or word in DEMONSTRATIVES:
            rest = question[match.end() :].lstrip().lower()
            if word in DEMONSTRATIVES and rest and not any(rest.startswith(a + " ") for a in AUXILIARIES):
                if rest.rstrip("?!. ") != "":
                    continue
            text = f"{subject}'s" if word in POSSESSIVE and word not in ("her",) else subject
            return question[: match.start()] + text + question[match.end() :]
    return question


def rewrite(question: str, history: Sequence[Turn]) -> Rewrite:
    """``question`` made standalone from ``history`` (earlier turns, oldest first).

    Each earlier user question is made standalone in turn, against the one before it,
    so a chain of follow-ups keeps its subject ("Who founded Apple?", "When?", "Where
    was he born?"); one pass over the history.
    """
    previous: str | None = None
    answer: str | None = None  # the assistant's reply to ``previous``
    for turn in history:
        if turn.role == "user" and turn.text.strip():
            previous, answer = standalone(turn.text.strip(), previous, answer).question, None
        elif turn.role == "assistant" and previous is not None:
            answer = turn.text
    return standalone(question, previous, answer)


def standalone(question: str, previous: str | None, answer: str | None = None) -> Rewrite:
    """One step: ``question`` after the standalone question ``previous`` (and its ``answer``, if any)."""
    how = refers_back(question)
    if how is None:
        return Rewrite(question, question, None, "standalone")
    if previous is None:
        return Rewrite(question, question, None, "no_history")
    phrases = noun_phrases(previous)
    words = {m.group().lower() for m in _words(question)}
    if how == "pronoun" and words & PERSONAL and answer and ASKS_WHO_DID.match(previous):
        phrases = [a for a in [_answer_subject(answer)] if a] + phrases
    if not phrases:
        return Rewrite(question, question, None, "no_subject")
    subject = phrases[0]
    if subject.lower() in question.lower():
        return Rewrite(question, question, None, "standalone")
    if how == "pronoun":
        return Rewrite(_replace_pronoun(question, subject), question, subject, "pronoun")
    body = CONTINUATION.sub("", question, count=1).strip().rstrip("?.! ")
    body = body[:1].upper() + body[1:] if body else ""
    text = f"{body}, about {subject}?" if body else f"{subject}?"
    return Rewrite(text, question, subject, "continuation")
