"""The terms check: the options, code, identifiers, paths, URLs and names of an answer sentence must occur in a source.

Token similarity scores a sentence by how close its words are to the passage's, not
by whether the passage says it: "use the `-b` flag to specify a different port"
scored as supported against Vite's ``server.port`` passage, which never mentions
``-b`` (issue 32), and a swapped name ("Mozilla" for "Cisco") moves the score
as little as a swapped number did (:mod:`rag.pipeline.numbers`). So the words that
carry a claim's identity are compared as strings. A sentence's *checkable terms*:

* ``option``: a command-line flag, ``-b``, ``--strictPort`` (compared exactly);
* ``code``: an inline code span, ```server.strictPort``` (compared exactly, without
  its backticks or quotes; a span of several words is held when the passage has it
  whole or has each of its words);
* ``url``; ``path`` (``./src/main.ts``, ``/usr/bin``, ``@vitejs/plugin-react``, ``.env``);
  ``identifier``: dotted (``import.meta.env``, ``vite.config.js``), snake_case or camelCase
  (compared case-insensitively: "node.js" is "Node.js", and only a passage can say
  "strictPort" and so the sentence's "strictport");
* ``name``: a run of capitalised words (``Gustave Eiffel``, ``NASA``), compared word by
  word, case-insensitively and without accents, a possessive or a plural ``s``: a
  name word is held when the passage has the word, so "the Paris-based Eiffel's" needs
  "Paris" and "Eiffel". Capitalised function and common words ("The", "However", "Use",
  "Note") are not names, wherever they stand: a sentence's first word is checked like
  any other, as "Mozilla provided the codec" starts with the name it invents.

:mod:`rag.pipeline.support` uses it like the numbers check: a passage supports a
sentence only when it holds every term of it (a name may be held by another passage of
the answer instead: :func:`agreement`), and a sentence with a term that no passage
holds says so (``"term not in sources: -b"``). Known misses: a name spelled
differently ("French" for "France"), a common word that is also a name ("Bill",
"Bath") and a new title ("President" when the passage says "the president") pass or
fail on the words alone; an entity of the passage put in the wrong place is not a term
problem at all and passes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TERM_NOT_IN_SOURCES = "term not in sources"

_URL = re.compile(r"https?://[^\s<>()\[\]`\"']+")
_CODE = re.compile(r"`+([^`\n]+?)`+")
# a flag after a space, bracket or quote: "--port", "-b" (not "e-mail", not "-3", not "- item")
_OPTION = re.compile(r"(?<![\w./\-])--?[A-Za-z][\w-]*")
_PATH = re.compile(r"(?<![\w.@/\-])(?:~|\.{1,2})?/?[\w.@\-]+(?:/[\w.@\-]+)+/?|(?<![\w./\-])\.[A-Za-z][\w\-]*")
_IDENTIFIER = re.compile(
    r"(?<![\w.$@/\-])[A-Za-z_$][\w$]*(?:\.[\w$]+)+"  # dotted: server.port, vite.config.js, H.264
    r"|(?<![\w.$@/\-])\w*_\w+"  # snake_case, __init__
    r"|(?<![\w.$@/\-])[a-z][a-z\d]*[A-Z]\w*"  # camelCase: strictPort, iPhone
)
_EXTENSION = re.compile(r"\.[A-Za-z]\w{0,5}$")
_WORD = re.compile(r"[^\W_]+")
_DIGITS = re.compile(r"[\d.,/]+")
_QUOTES = str.maketrans("", "", "`'\"‘’“”")

# Words that are not names when capitalised: at the start of a sentence, after a colon, in a title.
COMMON_WORDS = frozenset(
    """
    a about above according across actually additionally after afterwards again against all almost also although
    always among an and another any anyone anything are as at based be because been before being below besides
    between both but by can cannot could currently did do does during each either else even eventually every
    everything finally first following for from further furthermore generally given had has have having he her
    here hers herself him himself his how however i if in including indeed initially instead into is it its itself
    just last later latest lastly many may meanwhile might more moreover most much must my neither never
    nevertheless new next no none nor not note nothing now of often on once one only or other otherwise our out
    over overall per perhaps please previously rather regarding second several she should similarly since so some
    sometimes still such than that the their theirs them themselves then there therefore these they third this
    those though through thus to today together too typically under unless unlike until up upon us usually very
    was we were what whatever when whenever where whereas whether which while who whom whose why will with within
    without would yes yet you your yours yourself
    add answer answers allow allows call change check choose click configure consider create default define
    disable enable ensure example examples go important install keep let make makes mean means name
    open pass passage passages provide question read refer remember remove return run see select set
    source sources specify start step stop summary tip try type unfortunately use used uses using warning
    dr mr mrs ms mx st sir jr sr prof approximately around nearly roughly
    """.split()
)


@dataclass(frozen=True)
class Term:
    """A checkable term of a sentence: ``text`` as written, its ``kind`` (see the module docstring)."""

    text: str
    kind: str


def terms_in(sentence: str) -> tuple[Term, ...]:
    """The checkable terms of one sentence (markers removed), in the order the sentence has them, without repeats.

    URLs, code spans, options, paths and identifiers are taken out of the text before the next
    kind is looked for, so "``server.port``" is one code term and not also an identifier and a name.
    """
    found: list[tuple[int, Term]] = []  # (where it starts, the term)
    rest = sentence
    for kind, pattern in (("url", _URL), ("code", _CODE), ("option", _OPTION), ("path", _PATH)):
        rest = _take(rest, pattern, kind, found)
    rest = _take(rest, _IDENTIFIER, "identifier", found)
    found += _names(rest)
    return tuple(dict.fromkeys(t for _, t in sorted(found, key=lambda f: f[0]) if t.text))


def _take(text: str, pattern: re.Pattern[str], kind: str, found: list[tuple[int, Term]]) -> str:
    """Append ``pattern``'s matches in ``text`` to ``found`` as terms of ``kind``; the text with them blanked."""

    def keep(match: re.Match[str]) -> str:
        value = _term_text(match, kind)
        if value is None:
            return match.group()
        found.append((match.start(), Term(value, kind)))
        return " " * len(match.group())

    return pattern.sub(keep, text)


def _term_text(match: re.Match[str], kind: str) -> str | None:
    """What a match checks, or None when it is not a term after all ("e.g", "and/or", "1/2")."""
    value = match.group(1) if kind == "code" else match.group()
    if kind == "code":
        return value.translate(_QUOTES).strip()
    value = value.rstrip(".,;:!?-")
    if kind == "path":
        parts = [p for p in value.split("/") if p]
        rooted = value.startswith(("/", "./", "../", "~", "@", "."))
        if _DIGITS.fullmatch(value) or not (rooted or len(parts) > 2 or _EXTENSION.search(value)):
            return None
    if kind == "identifier" and "." in value:
        parts = value.split(".")
        if all(len(p) <= 2 for p in parts) or _DIGITS.fullmatch(value):  # e.g, i.e, U.S, Ph.D, 1.5
            return None
    return value


def _names(text: str) -> list[tuple[int, Term]]:
    """Runs of capitalised words that are not common words, joined by spaces, hyphens or apostrophes
    ("Gustave Eiffel", "Anglo-Saxon"); any other word or punctuation ends a run ("Paris, France" is two)."""
    names: list[tuple[int, Term]] = []
    first = last = -1  # the current run's span; first < 0: no run
    for match in _WORD.finditer(text):
        name = _is_name(match.group())
        if first >= 0 and (not name or text[last : match.start()].strip(" -'’")):
            names.append((first, Term(text[first:last], "name")))
            first = -1
        if name:
            first = match.start() if first < 0 else first
            last = match.end()
    if first >= 0:
        names.append((first, Term(text[first:last], "name")))
    return names


def _is_name(word: str) -> bool:
    """Starts with a capital, is not one letter and is not a common word; a two-capital acronym is a name
    even when it spells a common word ("US", "IT")."""
    if len(word) < 2 or not word[0].isupper():
        return False
    return (len(word) == 2 and word.isupper()) or word.lower() not in COMMON_WORDS


@dataclass(frozen=True)
class PassageTerms:
    """One passage read once for the terms check: its text as written, without quotes, and its folded words."""

    raw: str
    plain: str  # without backticks and quotes
    lower: str  # ``plain`` lowercased
    words: frozenset[str]  # folded words (lowercase, no accents), split at hyphens and apostrophes

    @classmethod
    def of(cls, text: str) -> PassageTerms:
        plain = text.translate(_QUOTES)
        return cls(text, plain, plain.lower(), frozenset(_fold(w) for w in _WORD.findall(text)))

    def holds(self, term: Term) -> bool:
        """Whether the passage has ``term`` (see the module docstring for how each kind is compared)."""
        if term.kind == "name":
            return all(_has_word(self.words, _fold(w)) for w in _WORD.findall(term.text))
        if term.kind == "option":
            return _occurs(term.text, self.raw)
        if term.kind == "code":
            text = " ".join(term.text.split())
            if _occurs(text, self.plain):
                return True
            pieces = [p for p in text.split() if _WORD.search(p)]
            return len(pieces) > 1 and all(_occurs(p.strip(",;()"), self.plain) for p in pieces)
        return _occurs(term.text.lower().rstrip("/"), self.lower)  # url, path, identifier


def agreement(sentence: str, passages: Sequence[PassageTerms]) -> list[bool]:
    """For each passage, whether it holds every term of ``sentence``; a name may be held by any of ``passages``.

    Options, code, identifiers, paths and URLs are claims about one passage's content and must be in the
    passage that supports the sentence. A name is checked against all the passages the answer was written
    from: a document names its subject once, not in every chunk ("Vite" is in none of the ``server.strictPort``
    section's words, and "Vite exits if the port is in use" is what it says), and a name found in no passage
    is still caught.
    """
    terms = terms_in(sentence)
    names = all(any(p.holds(t) for p in passages) for t in terms if t.kind == "name")
    return [names and all(p.holds(t) for t in terms if t.kind != "name") for p in passages]


def missing_terms(sentence: str | Iterable[Term], sources: Iterable[PassageTerms]) -> tuple[Term, ...]:
    """The terms of ``sentence`` (or the terms given) that no source holds, in the order the sentence has them."""
    terms = terms_in(sentence) if isinstance(sentence, str) else tuple(sentence)
    sources = list(sources)
    return tuple(t for t in terms if not any(s.holds(t) for s in sources))


def _occurs(needle: str, haystack: str) -> bool:
    """``needle`` in ``haystack`` not glued to a word character on either side ("port" in "server.port", not in
    "portal"; "-b" not in "--base")."""
    if not needle:
        return True
    left = r"(?<![\w\-])" if needle[0] == "-" else r"(?<!\w)" if needle[0].isalnum() else ""
    right = r"(?!\w)" if needle[-1].isalnum() or needle[-1] == "_" else ""
    return re.search(left + re.escape(needle) + right, haystack) is not None


def _fold(word: str) -> str:
    """Lowercase without accents: "Beyoncé" is "beyonce"."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _has_word(words: frozenset[str], word: str) -> bool:
    """``word`` or its singular or plural ("Normans" for "Norman", "CPUs" for "CPU") among ``words``, or a
    word that it starts or that starts it, of 5 letters or more and at most 3 letters apart ("European" for
    "Europe", "Indian" for "India", "Newtonian" for "Newton")."""
    if word in words or word + "s" in words or word + "es" in words:
        return True
    if (word.endswith("s") and word[:-1] in words) or (word.endswith("es") and word[:-2] in words):
        return True
    return any(_stem_of(word, w) or _stem_of(w, word) for w in words)


def _stem_of(short: str, long: str) -> bool:
    return len(short) >= 5 and len(long) - len(short) <= 3 and long.startswith(short)
