"""The page's reader answers (the default mode), in headless Chromium against a real server.

The answer shows the span marked inside the sentence that holds it, with the file and
the span's characters under it; an abstention still lists the closest passages.
"""

from __future__ import annotations

import re

import pytest

from tests.web.test_page import (
    ANSWER_TIMEOUT,
    UNANSWERABLE,
    ask,
    document_text,
    make_collection,
    open_app,
    show,
    squash,
)

expect = pytest.importorskip("playwright.sync_api", reason="playwright is in the [test] extra").expect

# answered by one sentence of guide.md's Installation section
QUESTION = "How much disk space does the installer need?"


@pytest.mark.slow
def test_a_reader_answer_marks_its_span_inside_the_quoted_sentence(page, server, api):
    ids = make_collection(api, "reading", "guide.md", "notes.txt")
    guide = document_text(api, "reading", ids["guide.md"])
    open_app(page, server, "reading")
    show(page, "ask")
    expect(page.locator("#opt-mode")).to_have_value("reader")
    ask(page, QUESTION)
    quote = page.locator("#answer-quote")
    expect(quote).to_be_visible(timeout=ANSWER_TIMEOUT)
    expect(page.locator("#answer")).not_to_have_class(re.compile(r"is-abstained"))
    expect(page.locator("#answer-meta")).to_contain_text("mode reader")

    # the answer states the span; the quote is the sentence that holds it (its line breaks read as spaces),
    # the span marked in it
    span = page.locator("#answer-quote-text mark").text_content()
    sentence = page.locator("#answer-quote-text").text_content()
    assert span and span in sentence and sentence in squash(guide), (span, sentence)
    assert squash(page.locator("#answer").text_content()).startswith(span)

    # under it: the file and the span's characters in the document, which hold the span
    source = page.locator("#answer-quote-source").text_content()
    assert "guide.md" in source, source
    start, end = map(int, re.search(r"characters (\d+)–(\d+)", source).groups())
    assert squash(guide[start:end]) == span, (guide[start:end], span)

    # the citation card marks the same span, and opens the document at it
    card = page.locator("#citations .citation").first
    expect(card).to_have_attribute("data-how", "reader")
    assert squash(card.locator(".passage mark").text_content()) == span
    card.locator("button.open-doc").click()
    expect(page.locator("#document-text #mark-0")).to_be_visible()
    assert squash(" ".join(page.locator("#document-text mark.cite").all_text_contents())) == span
    assert "40 MB" in span, span  # what the question asks (the trained reader finds it; a barely trained one not)


@pytest.mark.slow
def test_a_reader_abstention_still_lists_the_closest_passages(page, server, api):
    make_collection(api, "unread", "guide.md", "notes.txt")
    open_app(page, server, "unread")
    show(page, "ask")
    ask(page, UNANSWERABLE)
    expect(page.locator("#answer.is-abstained")).to_be_visible(timeout=ANSWER_TIMEOUT)
    expect(page.locator("#answer")).to_contain_text("states an answer")  # the reason, said once
    expect(page.locator("#closest-block h3")).to_have_text("These may help")
    expect(page.locator("#answer-quote")).to_be_hidden()
    expect(page.locator("#closest .closest-passage").first).to_be_visible()
