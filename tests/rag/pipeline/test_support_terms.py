"""The terms check (issue 32): options, code, identifiers, paths, URLs and names of a sentence must be in a source.

Fast tests read terms only (no model); the checker tests run the real support model (MaxSim
over the packaged MiniLM) and are marked slow.
"""

from __future__ import annotations

import pytest

from rag.pipeline.prompt import Passage
from rag.pipeline.terms import PassageTerms, Term, agreement, missing_terms, terms_in
from tests.rag.pipeline.fakes import chunk

# The Vite docs' server options, one section per chunk as the Markdown parser cuts them
# (../shared/data/vite-docs/documents/config__server-options.md).
PORT = (
    "## server.port\n\n- **Type:** `number`\n- **Default:** `5173`\n\n"
    "Specify server port. Note if the port is already being used, Vite will automatically try the next "
    "available port so this may not be the actual port the server ends up listening on."
)
STRICT = (
    "## server.strictPort\n\n- **Type:** `boolean`\n\n"
    "Set to `true` to exit if port is already in use, instead of automatically trying the next available port."
)
CLI = (
    "| Options | |\n|---|---|\n| `--host [host]` | Specify hostname (`string`) |\n"
    "| `--port <port>` | Specify port (`number`) |\n| `--strictPort` | Exit if specified port is already in use |"
)
CISCO = (
    "In 2013 Cisco announced that it would release its H.264 codec as open source, as OpenH264, and pay "
    "the MPEG LA licensing royalties for it, so that the Firefox browser could play H.264 video."
)
B_FLAG = "You can use the `-b` flag to specify a different port."
STRICT_ANSWER = "Set `server.strictPort` to `true` so that Vite exits if the port is already in use."


def missing(sentence: str, *passages: str) -> list[str]:
    return [t.text for t in missing_terms(sentence, [PassageTerms.of(p) for p in passages])]


def test_the_b_flag_is_not_in_the_server_port_passage():
    assert terms_in(B_FLAG) == (Term("-b", "code"),)
    assert missing(B_FLAG, PORT) == ["-b"]
    assert missing("Run vite -b to pick another port.", PORT, CLI) == ["-b"]


def test_the_strict_port_answer_holds_its_terms():
    kinds = {t.text: t.kind for t in terms_in(STRICT_ANSWER)}
    assert kinds == {"server.strictPort": "code", "true": "code", "Vite": "name"}
    assert missing(STRICT_ANSWER, STRICT, PORT) == []  # "Vite" is in the other passage: names may be
    assert agreement(STRICT_ANSWER, [PassageTerms.of(p) for p in (PORT, STRICT)]) == [False, True]
    assert missing("Pass `--strictPort` on the command line.", CLI) == []
    assert missing("Pass --strictport on the command line.", CLI) == ["--strictport"]  # options are exact


def test_a_swapped_name_is_not_held():
    assert missing("Mozilla provided the H.264 codec.", CISCO) == ["Mozilla"]
    assert missing("Cisco provided the H.264 codec.", CISCO) == []
    assert missing("Cisco released the H.265 codec.", CISCO) == ["H.265"]
    assert missing("UK and MPEG LA royalties were paid.", CISCO) == ["UK"]  # two capitals: an acronym, not "uk"


@pytest.mark.parametrize(
    "sentence",
    [
        "The next available port is tried when the port is busy.",  # sentence-initial capital
        "However, Note That You Should Use the next available port.",  # common words in title case
        "Yes: if the port is already in use, the server tries the next one.",
        "Firefox's support for H.264 came from Cisco's codec.",  # possessives
        "The Firefox browsers play H.264 video.",  # plural of a name
        "A Cisco-made codec, e.g. OpenH264, is used in the U.S. and/or elsewhere, 1/2 of the time.",
        "It is a well-known codec - open source - and -3 degrees cooler.",  # hyphens and dashes are not options
        "OPENH264 is open source.",  # names are compared without case
    ],
)
def test_common_words_and_punctuation_do_not_trip_it(sentence):
    assert missing(sentence, CISCO, PORT) == []


def test_names_are_compared_without_accents_and_split_at_hyphens():
    passage = "Beyonce was born in Houston, Texas. The Anglo Saxon kings ruled England."
    assert missing("Beyoncé's Houston-based family lived in Texas.", passage) == []
    assert missing("The Anglo-Saxon kings ruled England and Wales.", passage) == ["Wales"]


def test_code_paths_urls_and_identifiers():
    passage = (
        "Vite loads `.env` files from `envDir`, exposed on `import.meta.env`. Put the entry in ./src/main.ts "
        "and see https://vite.dev/config/ or the Node.js docs; `vite --port 3000` starts it."
    )
    found = {t.text: t.kind for t in terms_in("Use import.meta.env in ./src/main.ts (see https://vite.dev/config/).")}
    assert found == {"https://vite.dev/config/": "url", "./src/main.ts": "path", "import.meta.env": "identifier"}
    assert missing("Vite reads .env files from envDir via import.meta.env.", passage) == []
    assert missing("See node.js and https://vite.dev/config/.", passage) == []  # identifiers: without case
    assert missing("Run `vite --port 3000` or `vite  --port 3000`.", passage) == []
    assert missing("Put it in ./src/index.ts and read `process.env`.", passage) == ["./src/index.ts", "process.env"]
    assert missing("Read `envdir`.", passage) == ["envdir"]  # code is exact


def test_options_do_not_match_inside_longer_options():
    assert missing("Use `-b`.", "Use --base to set the base path.") == ["-b"]
    assert missing("Use `--base`.", "Use --base to set the base path.") == []


@pytest.fixture(scope="module")
def checker():
    from rag.pipeline.support import SupportChecker
    from rag.rerank.base import get_reranker

    return SupportChecker(lambda: get_reranker("maxsim"))


def passages(*texts: str) -> list[Passage]:
    return [Passage(i, chunk(i, text=t)) for i, t in enumerate(texts, start=1)]


@pytest.mark.slow
def test_the_b_flag_answer_is_unsupported_and_says_why(checker):
    (s,) = checker(B_FLAG[:-1] + " [1].", passages(PORT, STRICT)).sentences
    assert not s.supported and s.how == "none" and s.cited == (1,)
    assert s.reason == "term not in sources: -b"
    # close enough in words for the model to call it supported: the term decides
    closer = "Use the `-b` flag so that Vite does not try the next available port when the port is already being used."
    (s,) = checker(closer, passages(PORT, STRICT)).sentences
    assert s.score >= checker.threshold and s.passage == 1
    assert not s.supported and s.reason == "term not in sources: -b"


@pytest.mark.slow
def test_the_strict_port_answer_is_supported_by_its_passage(checker):
    checked = checker(STRICT_ANSWER[:-1] + " [1].", passages(PORT, STRICT))
    (s,) = checked.sentences
    # the server.port passage scores higher in words, but has no server.strictPort: the right one is cited
    assert s.supported and s.passage == 2 and s.how == "corrected" and s.reason is None


@pytest.mark.slow
def test_a_swapped_name_is_unsupported_and_the_right_one_supported(checker):
    (wrong,) = checker("Mozilla provided the H.264 codec [1].", passages(CISCO)).sentences
    assert not wrong.supported and wrong.reason == "term not in sources: Mozilla"
    (right,) = checker("Cisco provided the H.264 codec [1].", passages(CISCO)).sentences
    assert right.supported and right.how == "marker"


@pytest.mark.slow
def test_sentence_initial_and_common_capitals_keep_a_sentence_supported(checker):
    checked = checker("However, Vite will try the next available port if 5173 is already used [1].", passages(PORT))
    assert [s.supported for s in checked.sentences] == [True]
