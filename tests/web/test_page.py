"""The web page served at ``/``, driven in headless Chromium against a real server.

Every check goes through the page as a person would use it (clicks, typing, files
set on the file input); the REST API is used only to prepare collections and to
confirm what the page did. Screenshots of each view, wide and narrow, go to a
temporary folder, or to $RAG_SCREENSHOTS when set: `make screenshots` sets it to
docs/screenshots/ (the README shows them), so the suite never rewrites tracked files.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest

from tests.conftest import shared_path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "api"
SCREENSHOTS = Path(os.environ.get("RAG_SCREENSHOTS") or Path(tempfile.gettempdir()) / "rag-screenshots")
VIEWS = ("collections", "upload", "ask", "documents", "benchmarks")
WIDTHS = {"wide": {"width": 1280, "height": 900}, "narrow": {"width": 390, "height": 844}}
ANSWER_TIMEOUT = 120_000  # ms: an answer takes 2-20 s on 2 cores, more while another test's model call runs
INGEST_TIMEOUT = 120_000

# answered by the Installation section of guide.md (and by nothing in notes.txt)
QUESTION = "How do I install Quarkdown?"
UNANSWERABLE = "Who won the 1998 football world cup?"
# a written answer (mode "auto") whose first sentence a passage supports and whose list of steps, padded
# with commands guide.md never names, none does (greedy decoding: the same answer every time)
UNSUPPORTED_QUESTION = "Explain how to use Quarkdown to make a PDF and which version is the latest."

expect = pytest.importorskip("playwright.sync_api", reason="playwright is in the [test] extra").expect
pytestmark = pytest.mark.slow  # a browser and both models


def squash(text: str) -> str:
    """Whitespace collapsed: a page may wrap or re-indent text, never change its words."""
    return " ".join(text.split())


def make_collection(api, name: str, *filenames: str) -> dict[str, int]:
    """Create ``name`` over the API and store fixture files in it; returns filename -> document id."""
    r = api.post("/v1/collections", json={"name": name})
    assert r.status_code == 201, r.text
    if not filenames:
        return {}
    files = [("files", (f, (FIXTURES / f).read_bytes())) for f in filenames]
    r = api.post(f"/v1/collections/{name}/documents", params={"wait": "true"}, files=files)
    assert r.status_code == 201, r.text
    return {d["filename"]: d["id"] for d in r.json()["documents"]}


def listed(api, collection: str) -> dict[str, int]:
    r = api.get(f"/v1/collections/{collection}/documents")
    assert r.status_code == 200, r.text
    return {d["filename"]: d["id"] for d in r.json()["documents"]}


def document_text(api, collection: str, document_id: int) -> str:
    r = api.get(f"/v1/collections/{collection}/documents/{document_id}", params={"text": "true"})
    assert r.status_code == 200, r.text
    return r.json()["text"]


def open_app(page, server, collection: str | None = None) -> None:
    page.goto(server.url + "/")
    expect(page.locator("nav")).to_be_visible()
    if collection:
        choose_collection(page, collection)


def choose_collection(page, name: str) -> None:
    """Pick ``name`` in the header's select once the page has listed it."""
    page.wait_for_function(
        "name => Array.from(document.querySelector('#collection-select').options)"
        ".some(o => o.value === name || o.text.trim() === name)",
        arg=name,
    )
    page.select_option("#collection-select", name)


def show(page, view: str) -> None:
    page.click(f'nav button[data-view="{view}"]')
    expect(page.locator(f"#view-{view}")).to_be_visible()


def upload_files(page, paths_or_payloads) -> None:
    page.set_input_files("#file-input", paths_or_payloads)


def wait_uploaded(page, *filenames: str) -> None:
    for name in filenames:
        expect(page.locator(f'li.upload[data-filename="{name}"] .state')).to_have_text("done", timeout=INGEST_TIMEOUT)


def watch_answer(page) -> None:
    """Record every distinct text ``#answer`` shows from now on (each streamed token changes it)."""
    page.evaluate(
        """() => {
            const el = document.querySelector('#answer');
            const seen = (window.__answerTexts = []);
            const record = () => {
                const t = el.textContent.trim();
                if (t && seen[seen.length - 1] !== t) seen.push(t);
            };
            new MutationObserver(record).observe(el, {childList: true, subtree: true, characterData: true});
        }"""
    )


def advanced(page) -> None:
    """Open the Advanced options (collapsed by default) so that a test can set one."""
    if page.locator("#advanced").get_attribute("open") is None:
        page.click("#advanced > summary")


def ask(page, question: str) -> None:
    page.fill("#question", question)
    page.click("#ask")


def wait_cited_answer(page) -> None:
    """The final answer is rendered: its markers link to citation cards."""
    expect(page.locator("#answer a.marker").first).to_be_attached(timeout=ANSWER_TIMEOUT)
    expect(page.locator("#citations .citation").first).to_be_visible()


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def screenshot(page, view: str, width: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if width == "narrow":
        assert no_horizontal_scroll(page), f"the {view} view scrolls sideways at 390 px: " + page.evaluate(
            "() => `scrollWidth ${document.documentElement.scrollWidth} > innerWidth ${window.innerWidth}`"
        )
    page.screenshot(path=str(SCREENSHOTS / f"{view}-{width}.png"), full_page=True)


def test_upload_two_documents_then_ask_gets_a_streamed_cited_answer(page, server, api):
    open_app(page, server)

    # a new collection, made through the page
    show(page, "collections")
    page.fill("#new-collection-name", "lab")
    page.click("#create-collection")
    expect(page.locator('#collections li[data-collection="lab"]')).to_be_visible()
    assert api.get("/v1/collections/lab").status_code == 200
    choose_collection(page, "lab")

    # two real documents, through the file input; each file's own state ends "done"
    show(page, "upload")
    upload_files(page, [FIXTURES / "guide.md", FIXTURES / "notes.txt"])
    wait_uploaded(page, "guide.md", "notes.txt")
    stored = listed(api, "lab")
    assert set(stored) == {"guide.md", "notes.txt"}
    guide = squash(document_text(api, "lab", stored["guide.md"]))

    # the question: the answer streams in, then its markers link to citation cards (a generating mode:
    # mode "reader", the default, sends its span whole; tests/web/test_reader_page.py covers it)
    show(page, "ask")
    advanced(page)
    page.select_option("#opt-mode", "auto")
    watch_answer(page)
    ask(page, QUESTION)
    wait_cited_answer(page)
    expect(page.locator("#answer")).not_to_have_class(re.compile(r"is-abstained"))
    final = page.locator("#answer").text_content().strip()
    texts = page.evaluate("() => window.__answerTexts")
    partial = [t for t in texts if t != final and len(t) < len(final) and final.startswith(t[:12])]
    assert partial, f"#answer showed no partial text before the final answer (not streamed): {texts}"

    markers = page.locator("#answer a.marker")
    hrefs = [markers.nth(i).get_attribute("href") for i in range(markers.count())]
    assert hrefs and all(re.fullmatch(r"#citation-\d+", h) for h in hrefs), hrefs
    for href in hrefs:
        expect(page.locator(f"#citations .citation{href}")).to_have_count(1)

    # the first cited card names guide.md and marks a span of it, the one about installing
    card = page.locator(f"#citations .citation{hrefs[0]}")
    expect(card.locator(".doc-name")).to_contain_text("guide.md")
    mark = squash(card.locator(".passage mark").first.text_content())
    assert mark and mark in guide, f"the card's marked span is not in guide.md: {mark!r}"
    assert "install" in mark.lower(), mark
    expect(card.locator(".score")).not_to_be_empty()
    expect(page.locator("#sentences .sentence.supported").first).to_be_attached()

    # the card opens the document at its span
    card.locator("button.open-doc").click()
    expect(page.locator("#document-view")).to_be_visible()
    expect(page.locator("#document-title")).to_contain_text("guide.md")
    span = squash(page.locator("#document-text #mark-0").text_content())
    assert span and span in guide and "install" in span.lower(), span
    expect(page.locator("#document-text")).to_contain_text("converts lab notebooks into printable reports")
    page.click("#document-close")
    expect(page.locator("#document-view")).to_be_hidden()


def test_delete_a_document(page, server, api):
    ids = make_collection(api, "trash", "guide.md", "notes.txt")
    open_app(page, server, "trash")
    show(page, "documents")
    items = page.locator("#documents li[data-document-id]")
    expect(items).to_have_count(2)

    dialogs: list[str] = []

    def accept(dialog):
        dialogs.append(dialog.type)
        dialog.accept()

    page.on("dialog", accept)
    gone = page.locator(f'#documents li[data-document-id="{ids["notes.txt"]}"]')
    gone.locator("button.delete").click()
    expect(gone).to_have_count(0)
    expect(items).to_have_count(1)
    expect(page.locator(f'#documents li[data-document-id="{ids["guide.md"]}"]')).to_be_visible()
    assert dialogs == ["confirm"], dialogs
    assert listed(api, "trash") == {"guide.md": ids["guide.md"]}
    expect(page.locator("#documents-error")).to_be_empty()


@pytest.mark.parametrize(
    "name,content,words",
    [
        ("bad.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", "not supported"),
        ("empty.txt", b"", "empty"),
    ],
)
def test_a_bad_upload_shows_its_error(page, server, api, name, content, words):
    collection = "rejects-" + name.split(".")[1]
    make_collection(api, collection)
    open_app(page, server, collection)
    show(page, "upload")
    upload_files(page, [{"name": name, "mimeType": "application/octet-stream", "buffer": content}])
    shown = page.locator(f'li.upload[data-filename="{name}"] .error, #upload-error').filter(has_text=words)
    expect(shown.first).to_be_visible(timeout=INGEST_TIMEOUT)
    message = shown.first.text_content()
    assert name.split(".")[1] in message and '{"error"' not in message, message  # words, not the JSON body
    assert listed(api, collection) == {}


def test_an_unanswerable_question_abstains(page, server, api):
    make_collection(api, "facts", "guide.md", "notes.txt")
    open_app(page, server, "facts")
    show(page, "ask")
    ask(page, UNANSWERABLE)
    expect(page.locator("#answer.is-abstained")).to_be_visible(timeout=ANSWER_TIMEOUT)
    expect(page.locator("#answer")).not_to_be_empty()
    expect(page.locator("#ask-error")).to_be_empty()


def test_navigation_keyboard_and_labels(page, server):
    open_app(page, server)
    for view in VIEWS:
        show(page, view)
        for other in VIEWS:
            if other != view:
                expect(page.locator(f"#view-{other}")).to_be_hidden()

    # choosing Ask puts the focus in the question box; Tab goes on to the Ask button
    show(page, "ask")
    expect(page.locator("#question")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#ask")).to_be_focused()

    # Tab alone, from the top of the content, reaches the question box, then the ask button
    page.focus("#main")
    reached = []
    for _ in range(80):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("() => document.activeElement && document.activeElement.id"))
        if "ask" in reached and "question" in reached:
            break
    assert "question" in reached and "ask" in reached, f"Tab order: {reached}"
    assert reached.index("question") < reached.index("ask"), f"Tab order: {reached}"

    # every form control has an accessible name from a label or aria
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll('input, select, textarea'))
            .filter(el => el.type !== 'hidden')
            .filter(el => !(el.labels && el.labels.length)
                && !(el.getAttribute('aria-label') || '').trim()
                && !(el.getAttribute('aria-labelledby') || '').split(/\\s+/)
                       .some(id => id && document.getElementById(id)))
            .map(el => el.outerHTML.slice(0, 120))"""
    )
    assert not unlabelled, f"form controls without a label: {unlabelled}"


@pytest.mark.parametrize("width", ["wide", "narrow"])
def test_screenshots_of_each_view(page, server, api, width):
    """upload, ask, the document view at a cited span, documents and collections, filled in (benchmarks: below)."""
    page.set_viewport_size(WIDTHS[width])
    collection = f"handbook-{width}"
    make_collection(api, collection)
    open_app(page, server, collection)

    show(page, "upload")
    upload_files(page, [FIXTURES / "guide.md", FIXTURES / "notes.txt"])
    wait_uploaded(page, "guide.md", "notes.txt")
    screenshot(page, "upload", width)

    # a written answer: a supported sentence beside unsupported ones, flagged
    show(page, "ask")
    advanced(page)
    page.select_option("#opt-mode", "auto")
    page.click("#advanced > summary")  # closed again, as a first-time user sees the page
    ask(page, UNSUPPORTED_QUESTION)
    wait_cited_answer(page)
    expect(page.locator("#answer .sentence.supported").first).to_be_visible()
    expect(page.locator("#answer .sentence.unsupported").first).to_be_visible()
    screenshot(page, "ask", width)
    page.locator("#citations .citation button.open-doc").first.click()
    expect(page.locator("#document-text #mark-0")).to_be_visible()
    screenshot(page, "document", width)
    page.click("#document-close")

    show(page, "documents")
    expect(page.locator("#documents li[data-document-id]")).to_have_count(2)
    screenshot(page, "documents", width)

    show(page, "collections")
    expect(page.locator(f'#collections li[data-collection="{collection}"]')).to_be_visible()
    screenshot(page, "collections", width)


def test_benchmark_runs_from_the_page(page, server):
    shared_path("glove50-angular")  # the page runs the glove50-10k smoke benchmark
    open_app(page, server)
    show(page, "benchmarks")
    page.click("#bench-start")
    status = page.locator("#bench-status")
    expect(status).to_have_text(re.compile(r"\b(done|failed)\b", re.IGNORECASE), timeout=240_000)
    assert re.search(r"\bdone\b", status.text_content(), re.IGNORECASE), status.text_content()

    plot = page.locator("img#bench-plot")
    expect(plot).to_be_visible()
    page.wait_for_function("() => document.querySelector('img#bench-plot').naturalWidth > 0")
    assert page.locator("#bench-table tr:has(td)").count() > 0
    # the run says how its points were timed (from the summary), so a reader knows what the numbers mean
    expect(page.locator("#bench-method")).to_contain_text("median of the 3 runs")
    # the page says what the plot shows and what the terms mean, keeps batch rows apart, and counts runs from 1
    expect(page.locator("#bench-plot-figure figcaption")).to_contain_text("Pareto front")
    expect(page.locator("#bench-terms")).to_contain_text("ef_search")
    assert page.locator("#bench-table-batch tr:has(td)").count() > 0
    assert re.match(r"Run \d+:", status.text_content()) and not status.text_content().startswith("Run 0")
    # a click opens the plot larger, and it closes again
    page.click("#bench-plot-open")
    expect(page.locator("#plot-dialog")).to_be_visible()
    large = page.locator("#bench-plot-large").bounding_box()
    small = plot.bounding_box()
    assert large["width"] > small["width"], (large, small)
    page.click("#plot-close")
    expect(page.locator("#plot-dialog")).to_be_hidden()

    for width in ("wide", "narrow"):
        page.set_viewport_size(WIDTHS[width])
        screenshot(page, "benchmarks", width)
