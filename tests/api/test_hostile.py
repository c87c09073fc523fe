"""Hostile uploads through the REST app: each gets a clear 4xx, the server stays up, nothing else is touched.

The tests run in file order: documents are stored first, then every attack is
sent, then the server is checked (health, a normal upload and search) and the
documents stored before the attack are compared with what they were.
"""

from __future__ import annotations

import time

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.uploads import MAX_FILES
from ingest.parse import sandbox
from rag.platform import Platform
from tests.conftest import FIXTURES
from tests.fixtures.hostile import make
from tests.ingest.parse.scans import many_image_pages_pdf
from tests.ingest.parse.test_container import docx_with_bomb

TIMEOUT_S = 3.0
QUERY = {"query": "how do I install the tool?", "k": 5}
BEFORE: dict = {}


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder):
    from rag.settings import Settings

    settings = Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("hostile") / "data", max_upload_mb=2.0)
    platform = Platform(settings)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sandbox, "TIMEOUT_S", TIMEOUT_S)  # a looping PDF is stopped after 3 s, not 60
        with TestClient(app=create_app(platform=platform)) as c:
            yield c
    platform.close()


def _upload(client, collection, *files, wait=True):
    parts = [("files", (name, data, ctype)) for name, data, ctype in files]
    return client.post(f"/v1/collections/{collection}/documents{'?wait=true' if wait else ''}", files=parts)


def _raw_upload(client, collection, disposition: bytes, data: bytes = b"Some text to store."):
    body = (
        b"--b\r\nContent-Disposition: form-data; " + disposition + b"\r\n"
        b"Content-Type: text/plain\r\n\r\n" + data + b"\r\n--b--\r\n"
    )
    headers = {"content-type": "multipart/form-data; boundary=b"}
    return client.post(f"/v1/collections/{collection}/documents?wait=true", content=body, headers=headers)


def _state(client) -> tuple:
    listed = client.get("/v1/collections/kept/documents").json()
    hits = client.post("/v1/collections/kept/search", json=QUERY).json()["results"]
    return listed["total"], [d["sha256"] for d in listed["documents"]], [(h["document_id"], h["text"]) for h in hits]


def test_documents_stored_before_the_attack(client):
    files = [
        ("guide.md", (FIXTURES / "api" / "guide.md").read_bytes(), "text/markdown"),
        ("notes.txt", (FIXTURES / "api" / "notes.txt").read_bytes(), "text/plain"),
    ]
    assert _upload(client, "kept", *files).status_code == 201
    BEFORE["state"] = _state(client)
    assert BEFORE["state"][0] == 2 and BEFORE["state"][2]


def _error(response, status: int, words: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "detail"} and words in error["message"], error
    return error["message"]


@pytest.mark.parametrize(
    "sent,stored",
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\x.txt", "x.txt"),
        ("/etc/cron.d/job.txt", "job.txt"),
        ("C:\\Users\\me\\report.txt", "report.txt"),
        ("tab\tand\x1b[31mescape\x7f.txt", "taband[31mescape.txt"),
        ("evil.php\x00.txt", "evil.php.txt"),
        ("zero\u200bwidth \u202eright-to-left.txt", "zerowidth right-to-left.txt"),
        ("  spaced.txt  ", "spaced.txt"),
    ],
)
def test_paths_and_odd_characters_reduce_to_a_safe_name(client, sent, stored):
    # Sent as raw bytes: an HTTP client would percent-encode some of these characters itself.
    disposition = b'name="files"; filename="' + sent.encode() + b'"'
    r = _raw_upload(client, "names", disposition, f"The text of {stored}.".encode())
    assert r.status_code == 201, r.text
    name = r.json()["documents"][0]["filename"]
    assert name == stored and "/" not in name and "\\" not in name


@pytest.mark.parametrize("sent,words", [("..", "names no file"), ("...", "names no file"),
    ("../..", "names no file"), ("\x00\x01", "has no filename"), ("\u202e", "has no filename")])  # fmt: skip
def test_names_that_name_no_file_are_400(client, sent, words):
    r = _raw_upload(client, "refused", b'name="files"; filename="' + sent.encode() + b'"')
    _error(r, 400, words)


def test_right_to_left_override_cannot_hide_an_extension(client):
    # Shown as "invoiceexe.txt"; the override is removed, and the bytes say what the file is.
    r = _upload(client, "refused", ("invoice\u202etxt.exe", b"MZ\x90\x00", "text/plain"))
    _error(r, 415, "invoicetxt.exe is a Windows program (.exe or .dll), not plain text")


def test_a_pdf_sent_as_text_is_read_as_a_pdf(client, make_pdf_bytes):
    r = _upload(client, "typed", ("report.txt", make_pdf_bytes, "text/plain"))
    assert r.status_code == 201, r.text
    doc = client.get(f"/v1/collections/typed/documents/{r.json()['document_ids'][0]}?text=true").json()
    assert doc["media_type"] == "application/pdf" and "Quarterly report" in doc["text"]


@pytest.fixture
def make_pdf_bytes():
    return make.shared_content_pdf(b"BT /F1 12 Tf 72 720 Td (Quarterly report of the hostile test.) Tj ET")


@pytest.mark.parametrize(
    "name,data,ctype,status,words",
    [
        ("setup.txt", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200), "text/plain", 415, "is a Windows program"),
        ("photo.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "text/markdown", 415, "is a PNG image"),
        ("report.csv", b"PK\x03\x04\x14\x00\x06\x00" + bytes(100), "text/csv", 415, "is a ZIP archive"),
        ("nul.txt", b"plain words\x00\x00 then NULs", "text/plain", 415, "binary data"),
        ("fake.pdf", b"<html><body>Not a PDF at all.</body></html>", "application/pdf", 422, "is not a PDF"),
        ("program", b"\x7fELF\x02\x01\x01" + bytes(50), "application/x-executable", 415, "is not supported"),
    ],
)
def test_lying_names_and_content_types_are_refused_before_anything_is_queued(client, name, data, ctype, status, words):
    message = _error(_upload(client, "lies", (name, data, ctype)), status, words)
    assert name in message or ctype in message
    assert client.get("/v1/collections/lies/documents").status_code == 404  # nothing stored, no collection


@pytest.mark.parametrize(
    "name,data,words",
    [
        ("bomb.pdf", make.flate_bomb_pdf(), "goes past a limit of pypdf (Limit reached while decompressing"),
        ("text-bomb.pdf", make.text_bomb_pdf(3_000_000), "expands to more than"),
        ("deep.html", make.nested_html(), "nests elements more than 256 deep"),
        ("wide.csv", make.wide_csv(), "has 100,000 columns; the limit is 16,384"),
        ("poster.png", make.huge_png(), "megapixels"),
        ("scans.pdf", many_image_pages_pdf(5000), "has more than 200 pages without a text layer"),
    ],
    ids=["flate-bomb-pdf", "text-bomb-pdf", "nested-html", "wide-csv", "huge-image", "5000-scans"],
)
def test_bombs_fail_alone_with_a_422(client, name, data, words):
    r = _upload(client, "bombs", (name, data, None), ("fine.txt", b"A fine file beside the bomb.", "text/plain"))
    message = _error(r, 422, words)
    assert name in message and "the other 1 file(s) were stored" in message
    files = {f["filename"]: f for f in r.json()["error"]["detail"]["files"]}
    assert files[name]["state"] == "failed" and files["fine.txt"]["state"] in ("done", "duplicate")


def test_a_zip_bomb_in_an_office_file_is_refused_at_the_door(client):
    r = _upload(client, "zips", ("report.docx", docx_with_bomb(1024), None))  # 1 GiB of zeros in ~1 MB
    message = _error(r, 422, "may be a decompression bomb")
    assert "report.docx" in message
    assert client.get("/v1/collections/zips/documents").status_code == 404  # nothing queued, no collection


def test_a_pdf_that_makes_the_parser_loop_is_stopped_by_the_time_limit(client):
    loop = make.looping_pdf()
    r = _upload(client, "loops", ("loop.pdf", loop, "application/pdf"))
    _error(r, 422, f"loop.pdf took longer than {TIMEOUT_S:g} s to parse; it may be malformed")
    r = _upload(client, "loops", ("after.txt", b"The upload after the loop.", "text/plain"))
    assert r.status_code == 201, r.text
    # While another one spins in the worker, the server answers at once.
    job = _upload(client, "loops", ("loop-again.pdf", loop, "application/pdf"), wait=False).json()
    started = time.monotonic()
    assert client.get("/healthz").status_code == 200
    assert client.post("/v1/collections/loops/search", json=QUERY).status_code == 200
    assert time.monotonic() - started < TIMEOUT_S
    while (state := client.get(f"/v1/jobs/{job['job_id']}").json())["status"] not in ("done", "failed"):
        assert time.monotonic() - started < 60, state
        time.sleep(0.2)
    assert state["status"] == "failed" and "took longer than" in state["files"][0]["error"]


def test_a_file_over_the_size_limit_is_413(client):
    _error(_upload(client, "big", ("one-line.txt", b"a" * (3 * 2**20), "text/plain")), 413, "the limit is 2 MB")


def test_a_body_over_the_request_limit_is_413(client):
    files = [(f"part{i}.txt", b"b" * (2**20 + 2**19), "text/plain") for i in range(8)]  # 12 MB > 4 x 2 MB + 1 MB
    message = _error(_upload(client, "big", *files), 413, "the request body is larger than the 9 MB this server")
    assert "send the files in several requests (each file at most 2 MB)" in message


def test_thousands_of_files_in_one_request_are_413(client):
    files = [(f"f{i}.txt", b"x%d" % i, "text/plain") for i in range(2000)]
    message = _error(_upload(client, "many", *files), 413, f"more than {MAX_FILES} files")
    assert f"the limit is {MAX_FILES} files per request" in message and "several requests" in message
    assert client.get("/v1/collections/many/documents").status_code == 404


def test_after_the_attack_the_server_works_and_nothing_else_changed(client):
    assert client.get("/healthz").json()["status"] == "ok"
    r = _upload(client, "after", ("espresso.txt", b"Descale the espresso machine every month.", "text/plain"))
    assert r.status_code == 201, r.text
    hits = client.post("/v1/collections/after/search", json={"query": "espresso descaling", "k": 3}).json()
    assert hits["results"][0]["filename"] == "espresso.txt"
    assert _state(client) == BEFORE["state"]
    jobs = client.get("/v1/jobs").json()
    assert not [j for j in jobs["jobs"] if j["status"] in ("queued", "parsing", "embedding", "indexing")]
