"""Every file of ../shared/data/documents-more ingested through REST, the CLI and the web page, facts checked.

``facts.jsonl`` lists strings a correct parser outputs for each file; each must be in the text of a stored
chunk of that file's document or of a document attached to it (an e-mail's attachments). Text and
whitespace are compared with runs of whitespace collapsed. OCR facts (kind ``ocr``) are compared by
normalized similarity: ``1 - d / len(fact)`` where ``d`` is the smallest edit distance between the fact and
any substring of a chunk (lower-cased, whitespace collapsed) must be at least ``OCR_SIMILARITY``; they are
skipped where Tesseract is not installed. Chunks of slide decks, spreadsheets and e-books carry the
location of their kind ("slide 7", "sheet Revenue", "chapter 3"); e-mail attachments become documents
linked to their message, and go when it is deleted. The protected Word file opens with the password
``tika`` only.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from litestar.testing import TestClient

from api.app import create_app
from rag.cli import main
from rag.platform import Platform
from rag.store import Catalog
from tests.conftest import SHARED_DATA
from tests.live import LiveServer

pytestmark = pytest.mark.slow

DATA = SHARED_DATA / "documents-more"
OCR_SIMILARITY = 0.9
PROTECTED = "apache_tika/testWORD_protected_passtika.docx"
PASSWORDS = {PROTECTED: "tika"}
LOCATION_KINDS = {".pptx": "slide ", ".xlsx": "sheet ", ".ods": "sheet ", ".epub": "chapter "}
MESSAGES_WITH_ATTACHMENTS = ("apache_tika/testRFC822_multipart_attachments.eml", "apache_tika/testEmailWithPNGAtt.eml")
HAS_TESSERACT = shutil.which("tesseract") is not None


def _files() -> list[str]:
    if not DATA.is_dir():
        return []
    return sorted(
        str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.is_file() and p.suffix not in (".md", ".jsonl")
    )


def _facts() -> dict[str, list[dict]]:
    facts = defaultdict(list)
    if DATA.is_dir():
        for line in (DATA / "facts.jsonl").read_text().splitlines():
            row = json.loads(line)
            facts[row["file"]].append(row)
    return facts


FILES, FACTS = _files(), _facts()


def flat(text: str) -> str:
    return " ".join(text.split())


def similarity(fact: str, text: str) -> float:
    """``1 - d / len(fact)``, ``d`` the least edit distance from ``fact`` to any substring of ``text`` (Sellers)."""
    fact, text = flat(fact).lower(), flat(text).lower()
    if not fact:
        return 1.0
    previous = list(range(len(fact) + 1))  # column of text position 0: a substring may start anywhere
    best = previous[-1]
    for ch in text:
        current = [0]
        for i, f in enumerate(fact, start=1):
            current.append(min(previous[i] + 1, current[i - 1] + 1, previous[i - 1] + (f != ch)))
        best = min(best, current[-1])
        previous = current
    return 1 - best / len(fact)


def missing_facts(rel: str, chunk_texts: list[str]) -> list[str]:
    """The facts of ``rel`` found in none of ``chunk_texts`` (OCR facts: below the similarity floor)."""
    missing = []
    for fact in FACTS[rel]:
        if fact["kind"] == "ocr":
            if HAS_TESSERACT and max((similarity(fact["text"], t) for t in chunk_texts), default=0) < OCR_SIMILARITY:
                missing.append(fact["text"])
        elif not any(flat(fact["text"]) in flat(t) for t in chunk_texts):
            missing.append(fact["text"])
    return missing


def expected_to_fail(rel: str) -> bool:
    """An image-only file where Tesseract is missing: refused with a message saying what to install."""
    return not HAS_TESSERACT and bool(FACTS[rel]) and all(f["kind"] == "ocr" for f in FACTS[rel])


# -- REST -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def platform(tmp_path_factory, embedder):
    from rag.settings import Settings

    settings = Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("more") / "data", max_upload_mb=8.0)
    opened = Platform(settings)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def client(platform):
    with TestClient(app=create_app(platform=platform)) as c:
        c.timeout = 600
        yield c


def upload(client, collection: str, rel: str, password: str | None = None):
    path = DATA / rel
    data = {"password": password} if password else None
    files = [("files", (path.name, path.read_bytes(), "application/octet-stream"))]
    return client.post(f"/v1/collections/{collection}/documents?wait=true", files=files, data=data)


@pytest.fixture(scope="module")
def uploaded(client) -> dict[str, dict]:
    """Each file uploaded on its own (one failure fails one file): its response's status and body."""
    out = {}
    for rel in FILES:
        r = upload(client, "more", rel, PASSWORDS.get(rel))
        out[rel] = {"status": r.status_code, "body": r.json()}
    return out


def document_tree(client, collection: str, document_id: int) -> list[dict]:
    """The document and, at any depth, those attached to it, each with its chunks."""
    listed = client.get(f"/v1/collections/{collection}/documents", params={"limit": 1000}).json()["documents"]
    children = defaultdict(list)
    for d in listed:
        children[d["parent_id"]].append(d["id"])
    tree, todo = [], [document_id]
    while todo:
        doc = todo.pop()
        tree.append(client.get(f"/v1/collections/{collection}/documents/{doc}").json())
        todo += children[doc]
    return tree


@pytest.mark.parametrize("rel", FILES)
def test_every_fact_of_every_file_is_in_its_stored_chunks(client, uploaded, rel):
    result = uploaded[rel]
    if expected_to_fail(rel):
        assert result["status"] == 422 and "tesseract" in result["body"]["error"]["message"].lower()
        return
    assert result["status"] == 201, result["body"]
    (stored,) = result["body"]["documents"]
    tree = document_tree(client, "more", stored["id"])
    texts = [c["text"] for doc in tree for c in doc["chunks"]]
    assert not missing_facts(rel, texts)
    kind = LOCATION_KINDS.get(Path(rel).suffix)
    if kind is not None:
        # every chunk of a slide deck or spreadsheet has its slide or sheet; an e-book's front matter (its title
        # page, before the first chapter) may have none
        locations = [c["location"] for c in tree[0]["chunks"]]
        located = [loc for loc in locations if loc is not None]
        assert located and all(loc.startswith(kind) for loc in located), locations
        unlocated = locations.index(located[0]) if kind == "chapter " else 0  # the front matter
        assert None not in locations[unlocated:], locations
    if any(f["kind"] == "ocr" for f in FACTS[rel]):
        assert all(c["ocr_confidence"] is not None for c in tree[0]["chunks"])


def test_the_protected_file_without_its_password_is_refused_saying_so_and_a_wrong_one_is_never_echoed(client):
    r = upload(client, "no-password", PROTECTED)
    assert r.status_code == 422, r.text
    assert "password" in r.json()["error"]["message"].lower()
    wrong = upload(client, "no-password", PROTECTED, "not-the-password-8431")
    assert wrong.status_code == 422 and "password" in wrong.json()["error"]["message"].lower()
    jobs = client.get("/v1/jobs").text
    assert "not-the-password-8431" not in wrong.text + jobs


@pytest.mark.parametrize("rel", MESSAGES_WITH_ATTACHMENTS)
def test_attachments_become_documents_linked_to_their_message_and_go_with_it(client, uploaded, rel):
    assert uploaded[rel]["status"] == 201, uploaded[rel]["body"]
    (message,) = uploaded[rel]["body"]["documents"]
    attachments = message["attachments"]
    assert attachments, "the message's attachments are reported"
    name = Path(rel).name
    assert all(a["filename"].startswith(f"{name}/") for a in attachments)
    for a in attachments:
        assert a["state"] in ("done", "duplicate") or a["reason"], a
    stored = [a["document_id"] for a in attachments if a["state"] == "done"]
    listed = client.get("/v1/collections/more/documents", params={"limit": 1000}).json()["documents"]
    parents = {d["id"]: d["parent_id"] for d in listed}
    assert all(parents[d] is not None for d in stored)
    assert {d for d, p in parents.items() if p == message["id"]} <= set(stored)

    # Deleting the message (in a collection of its own) deletes its attachments.
    copy = upload(client, "delete-message", rel).json()["documents"][0]
    gone = client.delete(f"/v1/collections/delete-message/documents/{copy['id']}").json()
    kept = [a["document_id"] for a in copy["attachments"] if a["state"] == "done"]
    assert sorted(gone["deleted_attachments"]) == sorted(kept)
    assert client.get("/v1/collections/delete-message/documents").json()["documents"] == []


# -- the CLI ----------------------------------------------------------------------------------------------------


def test_rag_ingest_of_the_folder_finds_every_fact(tmp_path, embedder, capsys):
    data = tmp_path / "data"
    code = main(["ingest", str(DATA), "--collection", "cli", "--password", "tika", "--data-dir", str(data)])
    out, err = capsys.readouterr()
    catalog = Catalog(data / "catalog.duckdb")
    try:
        coll = catalog.get_collection("cli")
        docs = catalog.list_documents(coll.id)
        by_id = {d.id: d for d in docs}
        texts = defaultdict(list)  # top-level filename -> chunk texts of it and its attachments
        for d in docs:
            top = d
            while top.parent_id is not None:
                top = by_id[top.parent_id]
            texts[top.filename] += [c.text for c in catalog.get_document(coll.id, d.id).chunks]
    finally:
        catalog.close()
    failed = [rel for rel in FILES if Path(rel).name not in texts]
    assert failed == [rel for rel in FILES if expected_to_fail(rel)], err
    assert code == (1 if failed else 0), err
    missing = {rel: missing_facts(rel, texts[Path(rel).name]) for rel in FILES if rel not in failed}
    assert not {rel: m for rel, m in missing.items() if m}
    assert "attachment testRFC822_multipart_attachments.eml/" in out


# -- the web page ---------------------------------------------------------------------------------------------------

WEB_FILES = ("docling/word_sample.docx", "docling/powerpoint_sample.pptx")


def test_the_web_page_uploads_a_docx_and_a_pptx(platform, client):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is in the [test] extra")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("chromium is not installed (`make test` installs Debian's chromium package with apt-get)")
    assert client.post("/v1/collections", json={"name": "web"}).status_code == 201
    with LiveServer(create_app(platform=platform)) as live, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"], headless=True)
        page = browser.new_page()
        page.set_default_timeout(30_000)
        page.goto(live.url + "/")
        page.wait_for_function("() => Array.from(document.querySelector('#collection-select').options)"
                               ".some(o => o.value === 'web')")  # fmt: skip
        page.select_option("#collection-select", "web")
        page.click('nav button[data-view="upload"]')
        accept = page.get_attribute("#file-input", "accept").split(",")
        from ingest.parse import SUPPORTED_TYPES

        assert sorted(accept) == sorted(SUPPORTED_TYPES)
        page.set_input_files("#file-input", [DATA / rel for rel in WEB_FILES])
        for rel in WEB_FILES:
            state = page.locator(f'li.upload[data-filename="{Path(rel).name}"] .state')
            sync_api.expect(state).to_have_text("done", timeout=300_000)
        browser.close()
    listed = client.get("/v1/collections/web/documents").json()["documents"]
    by_name = {d["filename"]: d["id"] for d in listed}
    for rel in WEB_FILES:
        doc = client.get(f"/v1/collections/web/documents/{by_name[Path(rel).name]}").json()
        assert not missing_facts(rel, [c["text"] for c in doc["chunks"]])
    deck = client.get(f"/v1/collections/web/documents/{by_name['powerpoint_sample.pptx']}").json()
    assert all(re.fullmatch(r"slide \d+", c["location"] or "") for c in deck["chunks"])
