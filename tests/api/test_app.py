"""REST end to end with Litestar's test client, on real documents, and every bad-input case."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from api.app import create_app
from rag.platform import Platform
from tests.conftest import FIXTURES, shared_path

MOZILLA = ("documents", "mozilla_readability", "test", "test-pages", "wikipedia", "source.html")


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder):
    from rag.settings import Settings

    settings = Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("api") / "data", max_upload_mb=2.0)
    platform = Platform(settings)
    with TestClient(app=create_app(platform=platform)) as c:
        yield c
    platform.close()


def _upload(client, collection, *files):
    parts = [("files", (name, data, ctype)) for name, data, ctype in files]
    return client.post(f"/v1/collections/{collection}/documents?wait=true", files=parts)


def test_health_and_openapi(client):
    assert client.get("/healthz").json()["status"] == "ok"
    schema = client.get("/schema/openapi.json").json()
    assert "/v1/collections/{name}/query" in schema["paths"]
    assert "/v1/collections/{name}/documents" in schema["paths"]


def test_upload_list_search_and_dedup(client):
    md = (FIXTURES / "api" / "guide.md").read_bytes()
    txt = (FIXTURES / "api" / "notes.txt").read_bytes()
    r = _upload(client, "docs", ("guide.md", md, "text/markdown"), ("notes.txt", txt, "text/plain"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert len(body["document_ids"]) == 2 and not any(d["duplicate"] for d in body["documents"])
    again = _upload(client, "docs", ("copy-of-guide.md", md, "application/octet-stream"))
    assert again.status_code == 201 and again.json()["documents"][0]["duplicate"] is True
    assert again.json()["document_ids"][0] == body["document_ids"][0]
    listed = client.get("/v1/collections/docs/documents").json()["documents"]
    assert [d["filename"] for d in listed] == ["guide.md", "notes.txt"]
    assert all(d["n_chunks"] > 0 and len(d["sha256"]) == 64 for d in listed)
    hits = client.post("/v1/collections/docs/search", json={"query": "how do I install the tool?", "k": 3}).json()
    assert hits["results"] and hits["results"][0]["filename"] == "guide.md"
    first = hits["results"][0]
    assert first["char_end"] > first["char_start"] and first["text"]


def test_search_switches_fusion_per_request_and_times_each_stage(client):
    txt = (FIXTURES / "api" / "notes.txt").read_bytes()
    md = (FIXTURES / "api" / "guide.md").read_bytes()
    assert _upload(client, "switches", ("notes.txt", txt, "text/plain"), ("guide.md", md, "text/markdown")).is_success
    url = "/v1/collections/switches/search"
    default = client.post(url, json={"query": "espresso machine repair", "k": 3}).json()
    assert set(default["timings"]) == {"embed", "dense", "bm25", "fuse", "fetch"}
    top = default["results"][0]
    assert top["filename"] == "notes.txt" and top["dense_score"] is not None and top["bm25_score"] is not None
    dense = client.post(url, json={"query": "espresso machine repair", "k": 3, "fusion": "dense"}).json()
    assert set(dense["timings"]) == {"embed", "dense", "fetch"} and dense["results"][0]["bm25_score"] is None
    bm25 = client.post(url, json={"query": "espresso machine repair", "k": 3, "fusion": "bm25"}).json()
    assert set(bm25["timings"]) == {"bm25", "fetch"} and bm25["results"][0]["filename"] == "notes.txt"
    convex = client.post(url, json={"query": "espresso", "k": 2, "fusion": "convex", "candidates": 5}).json()
    assert len(convex["results"]) == 2 and "fuse" in convex["timings"]


@pytest.mark.parametrize(
    "fields,words",
    [
        ({"fusion": "best"}, "unknown fusion"),
        ({"rerank": "nope"}, "unknown reranker"),
        ({"candidates": 0}, "candidates"),
        ({"hyde": True, "fusion": "bm25"}, "hyde"),
    ],
)
def test_bad_retrieval_switches_are_4xx_with_a_message(client, fields, words):
    _upload(client, "shapes", ("a.txt", b"Alpha beta gamma.", "text/plain"))
    r = client.post("/v1/collections/shapes/search", json={"query": "alpha", "k": 2, **fields})
    assert r.status_code == 422 and words in r.json()["error"]["message"], r.text
    assert client.post("/v1/collections/shapes/search", json={"query": "a", "rerank": 3}).status_code == 400


@pytest.mark.slow
def test_question_is_answered_with_a_citation_to_the_right_document(client):
    files = [
        ("mozilla.html", shared_path(*MOZILLA).read_bytes(), "text/html"),
        ("xquad.md", shared_path("documents", "xquad", "README.md").read_bytes(), "text/markdown"),
    ]
    r = _upload(client, "wiki", *files)
    assert r.status_code == 201, r.text
    ids = dict(zip(["mozilla.html", "xquad.md"], r.json()["document_ids"]))
    question = {"question": "Which company founded Mozilla?", "k": 4, "mode": "auto"}  # the generated answer
    answer = client.post("/v1/collections/wiki/query", json=question)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["answer"]
    # The 135M model's wording varies; what must hold is that it cites the page
    # that holds the answer, and that the cited passage does hold it.
    cited = [c for c in body["citations"] if c["document_id"] == ids["mozilla.html"]]
    assert cited and any("netscape" in c["text"].lower() for c in cited)
    for c in body["citations"]:
        assert c["char_end"] > c["char_start"] and c["text"]
        assert f"[{c['number']}]" in body["answer"]
    assert set(body["timings"]) >= {"embed", "dense", "bm25", "fuse", "generate"}


@pytest.mark.parametrize(
    "name,data,ctype,status,words",
    [
        ("report.key", b"PK\x03\x04 binary", "application/octet-stream", 415, ".pdf"),
        ("report.docx", b"PK\x03\x04 binary", "application/octet-stream", 422, "not a readable ZIP container"),
        ("empty.txt", b"", "text/plain", 422, "empty"),
        ("blank.md", b"  \n\n ", "text/markdown", 422, "empty"),
        # The limit is read back as it was set (RAG_MAX_UPLOAD_MB=2), not as 2.1 decimal MB.
        ("big.txt", b"a" * (3 * 1024 * 1024), "text/plain", 413, "the limit is 2 MB"),
    ],
)
def test_bad_uploads(client, name, data, ctype, status, words):
    r = _upload(client, "bad-uploads", (name, data, ctype))
    assert r.status_code == status, r.text
    assert words in r.json()["error"]["message"]
    # Nothing was stored, and the collection was not created by a rejected upload.
    assert client.get("/v1/collections/bad-uploads/documents").status_code == 404


def test_one_bad_file_rejects_the_whole_batch(client):
    r = _upload(
        client, "batch", ("ok.txt", b"Some useful text.", "text/plain"), ("x.exe", b"MZ", "application/x-msdownload")
    )
    assert r.status_code == 415
    assert client.get("/v1/collections/batch/documents").status_code == 404


def test_encrypted_pdf_is_a_clear_422(client):
    pdf = shared_path(
        "documents", "py-pdf_sample-files", "005-libreoffice-writer-password", "libreoffice-writer-password.pdf"
    )
    r = _upload(client, "pdfs", ("secret.pdf", pdf.read_bytes(), "application/pdf"))
    assert r.status_code == 422 and "encrypted" in r.json()["error"]["message"]


def test_unknown_collection_is_404(client):
    assert client.get("/v1/collections/nope/documents").status_code == 404
    r = client.post("/v1/collections/nope/search", json={"query": "x", "k": 2})
    assert r.status_code == 404 and "nope" in r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "not_found"
    assert client.post("/v1/collections/nope/query", json={"question": "x"}).status_code == 404


def test_malformed_requests_are_4xx(client):
    _upload(client, "shapes", ("a.txt", b"Alpha beta gamma.", "text/plain"))
    url = "/v1/collections/shapes/search"
    r = client.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert client.post(url, json={"k": 3}).status_code == 400  # missing "query"
    assert client.post(url, json={"query": "x", "k": "many"}).status_code == 400
    assert client.post(url, json={"query": "x", "k": 0}).status_code == 422
    assert client.post(url, json={"query": "   ", "k": 3}).status_code == 422
    assert client.post(url, json={"query": "x", "k": 3, "extra": 1}).status_code == 400
    assert _upload(client, "bad name!", ("a.txt", b"text", "text/plain")).status_code in (404, 422)
    r = client.post("/v1/collections/shapes/documents", data={"other": "field"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["error"]["message"]
    r = client.post("/v1/collections/shapes/documents", files=[("other", ("a.txt", b"text", "text/plain"))])
    assert r.status_code == 400 and "unknown form field 'other'" in r.json()["error"]["message"]


def test_upload_records_an_ingest_job(client):
    r = _upload(client, "jobs", ("j.txt", b"Jobs are recorded in the catalog.", "text/plain"))
    assert r.status_code == 201
    catalog = client.app.state.platform.store.catalog
    with catalog.cursor() as cur:
        status, detail = cur.execute("SELECT status, detail FROM jobs ORDER BY id DESC LIMIT 1").fetchone()
    assert status == "done" and str(r.json()["document_ids"][0]) in detail


def test_index_spec_is_chosen_when_a_collection_is_created(client):
    catalog = client.app.state.platform.store.catalog
    r = client.post(
        "/v1/collections/flatcoll/documents?index_spec=Flat&wait=true",
        files=[("files", ("a.txt", b"Exact search for small collections.", "text/plain"))],
    )
    assert r.status_code == 201 and catalog.get_collection("flatcoll").index_spec == "Flat"
    r = client.post(
        "/v1/collections/flatcoll/documents?index_spec=HNSW16&wait=true",
        files=[("files", ("b.txt", b"Another document.", "text/plain"))],
    )
    assert r.status_code == 422 and "already uses index" in r.json()["error"]["message"]
    r = client.post(
        "/v1/collections/other/documents?index_spec=HNSW", files=[("files", ("c.txt", b"Text.", "text/plain"))]
    )
    assert r.status_code == 400 and "unknown index spec" in r.json()["error"]["message"]
    _upload(client, "defaultcoll", ("d.txt", b"Default index.", "text/plain"))
    assert catalog.get_collection("defaultcoll").index_spec == "HNSW32"


def test_concurrent_uploads_of_one_file_store_it_once(client):
    import threading

    data = (FIXTURES / "api" / "guide.md").read_bytes()
    responses = []

    def upload():
        responses.append(_upload(client, "race", ("guide.md", data, "text/markdown")))

    threads = [threading.Thread(target=upload) for _ in range(5)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert [r.status_code for r in responses] == [201] * 5, [r.text for r in responses]
    documents = [r.json()["documents"][0] for r in responses]
    assert sorted(d["duplicate"] for d in documents) == [False, True, True, True, True]
    assert len({d["id"] for d in documents}) == 1
    stored = next(d for d in documents if not d["duplicate"])
    platform = client.app.state.platform
    coll = platform.store.catalog.get_collection("race")
    assert len(platform.store.vectors(coll)) == stored["n_chunks"]  # no vectors without chunk rows
    hits = client.post("/v1/collections/race/search", json={"query": "install", "k": 100}).json()["results"]
    assert len(hits) == stored["n_chunks"]


def test_deeply_nested_json_is_a_400(client):
    _upload(client, "nested", ("a.txt", b"Alpha beta gamma.", "text/plain"))
    for body in ("[" * 100_000 + "]" * 100_000, '{"query": ' + "[" * 100_000 + "]" * 100_000 + "}"):
        r = client.post("/v1/collections/nested/search", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and "nested too deeply" in r.json()["error"]["message"]


def _multipart(disposition: str, data: bytes = b"Some text to store.") -> dict:
    body = (
        b"--b\r\nContent-Disposition: form-data; " + disposition.encode() + b"\r\n"
        b"Content-Type: text/plain\r\n\r\n" + data + b"\r\n--b--\r\n"
    )
    return {"content": body, "headers": {"content-type": "multipart/form-data; boundary=b"}}


def test_filenames_get_clear_answers(client):
    url = "/v1/collections/names/documents?wait=true"
    r = _upload(client, "names", ("a" * 10_000 + ".txt", b"text", "text/plain"))
    assert r.status_code == 400 and "10004 characters; the limit is 255" in r.json()["error"]["message"]
    r = client.post(url, **_multipart('name="files"; filename=""'))
    assert r.status_code == 400 and "has no filename" in r.json()["error"]["message"]
    r = client.post(url, **_multipart("name=\"files\"; filename*=UTF-8''na%C3%AFve%20notes.txt"))
    assert r.status_code == 201, r.text
    assert r.json()["documents"][0]["filename"] == "naïve notes.txt"
    r = client.post(url, **_multipart('name="files"; filename="C:\\Users\\me\\report.txt"', b"Other text."))
    assert r.status_code == 201 and r.json()["documents"][0]["filename"] == "report.txt"


def test_an_invalid_collection_name_is_named_as_such(client):
    for method, path, body in [
        ("post", "search", {"query": "x"}),
        ("post", "query", {"question": "x"}),
        ("get", "documents", None),
    ]:
        r = getattr(client, method)(f"/v1/collections/bad%20name!/{path}", **({"json": body} if body else {}))
        assert r.status_code == 422 and "invalid collection name" in r.json()["error"]["message"], (path, r.text)


def test_index_build_parameters_are_bounded(client):
    r = client.post(
        "/v1/collections/huge/documents?index_spec=HNSW99999", files=[("files", ("c.txt", b"Text.", "text/plain"))]
    )
    assert r.status_code == 400 and "between 2 and 128" in r.json()["error"]["message"]
    assert client.get("/v1/collections/huge/documents").status_code == 404
