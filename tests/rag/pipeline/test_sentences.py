"""Sentence spans: every stop that ends a sentence, none inside a token or after an abbreviation."""

from __future__ import annotations

import pytest

from rag.pipeline.sentences import marker_position, split_sentences

# Strings that trip naive splitters; shared with the citation tests.
TRICKY = [
    "See https://layout-parser.github.io/docs/index.html for the layout-parser docs.",
    "The model scored 79.8 mAP, up from 71.2 in v1.2.3 (released 2021.06.01).",
    "Upgrade from v1.1 to v2.0.1rc1... It works.",
    "Write to jane.doe@example.co.uk or j.doe@uni-mainz.de. Replies take 2.5 days.",
    "Use tools, e.g. LayoutParser, i.e. a toolkit. Dr. Smith et al. showed it in Fig. 3.",
    "J. R. R. Tolkien wrote it. Mr. and Mrs. Dursley agreed.",
    'He said "it works." Then (as noted.) it stopped! Really?! Yes…',
    "Wait... what happened? Nothing.",
    "Die Genauigkeit beträgt 79,8 % bzw. 0.798. Das ist z.B. gut. Über Ärger.",
    "東京は日本の首都です。富士山は高い。",
    "Steps:\n1. Install v1.2.\n2. Run ./configure.\n\n- item one\n- item two.",
    "# Results\nThe score was 3.14.\nIt rose.",
    "Price: $3.50 vs. $4.00 etc. The end.",
    "U.S. sales rose 3.5%. Files end in .pdf or .tar.gz. Fine.",
    "Version 10.0.19041.1 of Windows. Python 3.11.7.",
    "No. 5 is on p. 12. The answer is no.",
    "Ellipsis in the middle… and more. Emoji 🎉. Next 😀!",
    "Tabs\tand\r\nWindows line ends.\r\n\r\nNew paragraph",
    "No punctuation at all",
    "",
    "  \n ",
]


def _sentences(text):
    return [text[a:b] for a, b in split_sentences(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The tower is in Paris. It was completed in 1889.", ["The tower is in Paris.", "It was completed in 1889."]),
        ("Docs: https://layout-parser.github.io. Next.", ["Docs: https://layout-parser.github.io.", "Next."]),
        ("It scored 79.8 on v1.2.3 and 0.5.", ["It scored 79.8 on v1.2.3 and 0.5."]),
        ("Mail jane.doe@example.org today. Thanks.", ["Mail jane.doe@example.org today.", "Thanks."]),
        ("Use e.g. this, i.e. that. E.g. Python works.", ["Use e.g. this, i.e. that.", "E.g. Python works."]),
        ("Dr. Smith drew Fig. 2. It helps.", ["Dr. Smith drew Fig. 2.", "It helps."]),
        (
            "Smith et al. (2020) agree. So do Jones et al. The end.",
            ["Smith et al. (2020) agree.", "So do Jones et al.", "The end."],
        ),
        ("J. R. R. Tolkien wrote it. So did I. We left.", ["J. R. R. Tolkien wrote it.", "So did I.", "We left."]),
        ("Wait... what? Oh… Fine!", ["Wait... what?", "Oh…", "Fine!"]),
        ('He said "go." Then (see above.) it ended.', ['He said "go."', "Then (see above.) it ended."]),
        ('"Why?" she asked. Because.', ['"Why?" she asked.', "Because."]),
        ("No. 5 is on p. 12. The answer is no. Then more.", ["No. 5 is on p. 12.", "The answer is no.", "Then more."]),
        ("Paris.[1] Next [2]. End. [3]", ["Paris.[1]", "Next [2].", "End. [3]"]),
        ("Über alles. Ärger folgt. Das ist z.B. gut.", ["Über alles.", "Ärger folgt.", "Das ist z.B. gut."]),
        ("東京は首都です。富士山は高い。", ["東京は首都です。", "富士山は高い。"]),
        ("A line\nwrapped here. Next.", ["A line\nwrapped here.", "Next."]),
        ("First paragraph\n\nSecond paragraph", ["First paragraph", "Second paragraph"]),
        ("Intro:\n- one\n- two\n1. three\n2) four", ["Intro:", "- one", "- two", "1. three", "2) four"]),
        ("# Title\nBody text", ["# Title", "Body text"]),
        ("  padded.  ", ["padded."]),
        ("", []),
    ],
)
def test_split_sentences(text, expected):
    assert _sentences(text) == expected


@pytest.mark.parametrize("text", TRICKY)
def test_spans_cover_the_text_in_order_without_overlap(text):
    spans = split_sentences(text)
    position = 0
    for start, end in spans:
        assert position <= start < end <= len(text)
        assert not text[position:start].strip()  # only whitespace between sentences
        assert not text[start].isspace() and not text[end - 1].isspace()
        position = end
    assert not text[position:].strip()
    assert sum(len("".join(text[a:b].split())) for a, b in spans) == len("".join(text.split()))


@pytest.mark.parametrize("text", TRICKY)
def test_no_sentence_ends_inside_a_token(text):
    for _, end in split_sentences(text):
        assert end == len(text) or text[end].isspace() or text[end - 1] in "。！？"


@pytest.mark.parametrize(
    "sentence, expected",
    [
        ("It is in Paris.", "It is in Paris"),
        ("Is it?", "Is it"),
        ('He said "go."', 'He said "go'),
        ("It ends...", "It ends"),
        ("See https://example.org.", "See https://example.org"),
        ("Cats, dogs, etc.", "Cats, dogs, etc."),
        ("Made in the U.S.", "Made in the U.S."),
        ("No stop here", "No stop here"),
    ],
)
def test_marker_position_is_before_the_final_punctuation(sentence, expected):
    assert sentence[: marker_position(sentence)] == expected
