"""The parsing sandbox: same results as in-process, and a time limit, a memory limit and crash recovery."""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest
from pypdf import PdfReader, PdfWriter

from core.errors import InvalidInputError
from ingest.errors import DocumentParseError, UnsupportedMediaTypeError
from ingest.parse import parse_bytes, sandbox_worker
from ingest.parse.sandbox import (
    TIMEOUT_S,
    ParseMemoryError,
    ParserCrashedError,
    ParseTimeoutError,
    SandboxedParser,
    parse_sandboxed,
)
from tests.fixtures.hostile import make
from tests.ingest.parse import scans


@pytest.fixture(scope="module")
def sandbox():
    parser = SandboxedParser(timeout_s=30)
    yield parser
    parser.close()


def _recovers(parser: SandboxedParser) -> None:
    """The next file after a failure parses, in a fresh worker."""
    doc = parser.parse(b"After the failure.", "next.txt")
    assert doc.text == "After the failure." and parser.worker_pid is not None


def test_results_equal_in_process_parsing(sandbox, fixtures, make_pdf):
    files = [(path.name, path.read_bytes()) for path in sorted(fixtures.iterdir())]
    files.append(("made.pdf", make_pdf([["First page."], ["Second page of the made PDF."]])))
    files.append(("table.csv", b"name,amount\nrent,1200\nfood,300\n"))
    for name, data in files:
        assert sandbox.parse(data, name) == parse_bytes(data, name), name


def test_parser_errors_come_back_as_themselves(sandbox):
    with pytest.raises(DocumentParseError, match="looks like a binary file") as info:
        sandbox.parse(b"\x7fELF\x02\x01\x00\x00binary", "program.txt")
    assert type(info.value) is DocumentParseError
    with pytest.raises(UnsupportedMediaTypeError, match=r"\.svg is not supported"):
        sandbox.parse(b"data", "drawing.svg")
    with pytest.raises(InvalidInputError, match="is empty"):
        sandbox.parse(b"  \n", "blank.md")


def test_the_worker_is_started_once_and_kept(sandbox):
    sandbox.parse(b"one", "1.txt")
    pid = sandbox.worker_pid
    for i in range(20):
        sandbox.parse(b"more text %d" % i, f"{i}.txt")
    assert sandbox.worker_pid == pid


def test_a_parse_that_loops_is_stopped_and_the_next_file_gets_a_fresh_worker(sandbox):
    before = sandbox.worker_pid
    started = time.monotonic()
    with pytest.raises(ParseTimeoutError, match=r"loop.pdf took longer than 1 s to parse; it may be malformed"):
        sandbox.parse(make.looping_pdf(), "loop.pdf", timeout_s=1)
    assert time.monotonic() - started < 10
    _recovers(sandbox)
    assert sandbox.worker_pid != before


@pytest.mark.parametrize("target", [make.slow_parse, make.spin_parse])
def test_time_limit_stops_any_parser(target):
    parser = SandboxedParser(timeout_s=0.5, target=target)
    try:
        with pytest.raises(ParseTimeoutError, match="longer than 0.5 s"):
            parser.parse(b"x", "x.txt")
        parser.target = make.echo_parse
        _recovers(parser)
    finally:
        parser.close()


def test_memory_limit():
    parser = SandboxedParser(memory_mb=200, target=make.hungry_parse)
    try:
        with pytest.raises(ParseMemoryError, match="x.txt needed more than 200 MB of memory to parse"):
            parser.parse(b"x", "x.txt")
        parser.target = None
        # A real parse: 30 MB of text is decoded and normalised in copies of itself.
        with pytest.raises(ParseMemoryError, match="big.txt needed more than 20 MB"):
            parser.parse(b"word " * 6_000_000, "big.txt", memory_mb=20)
        # A 50 KB PDF whose content stream inflates to 50 MB of blanks: the MemoryError is not taken for a broken page.
        with pytest.raises(ParseMemoryError, match="blank.pdf needed more than 30 MB"):
            parser.parse(make.looping_pdf(pages=1, spaces=50_000_000), "blank.pdf", memory_mb=30)
        _recovers(parser)
    finally:
        parser.close()


@pytest.mark.parametrize(
    "target,how",
    [(make.exit_parse, "exited with status 3"), (make.segfault_parse, "killed by SIGSEGV")],
)
def test_a_worker_that_dies_is_an_error_and_is_replaced(target, how):
    parser = SandboxedParser(target=target)
    try:
        with pytest.raises(ParserCrashedError, match=f"the parser stopped while reading x.txt .*{how}"):
            parser.parse(b"x", "x.txt")
        parser.target = make.echo_parse
        _recovers(parser)
    finally:
        parser.close()


def test_a_worker_killed_while_idle_is_replaced(sandbox):
    sandbox.parse(b"warm", "w.txt")
    worker = sandbox._worker
    worker.process.kill()
    worker.process.wait()
    _recovers(sandbox)


def test_an_unexpected_exception_is_a_parse_error_and_is_logged(caplog):
    parser = SandboxedParser(target=make.buggy_parse)
    try:
        with caplog.at_level(logging.ERROR, logger="ingest.parse.sandbox"):
            with pytest.raises(DocumentParseError, match=r"x.txt could not be parsed \(KeyError: 'no such key'\)"):
                parser.parse(b"x", "x.txt")
        assert "Traceback" in caplog.text and "buggy_parse" in caplog.text
        worker = parser.worker_pid
        parser.target = make.echo_parse
        _recovers(parser)
        assert parser.worker_pid == worker  # an exception does not cost the worker
    finally:
        parser.close()


def test_the_workers_log_records_are_logged_here(caplog):
    parser = SandboxedParser(target=make.logging_parse)
    try:
        with caplog.at_level(logging.WARNING, logger="ingest.parse.pdf"):
            parser.parse(b"x", "odd.pdf")
        assert [r.getMessage() for r in caplog.records] == ["odd.pdf: pypdf reported 3 problem(s)"]
    finally:
        parser.close()


def test_threads_calling_at_once_each_get_their_result(sandbox):
    results, errors = {}, []

    def parse(i: int) -> None:
        try:
            results[i] = sandbox.parse(b"text of file %d" % i, f"{i}.txt").text
        except Exception as exc:  # collected: an assert in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=parse, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and results == {i: f"text of file {i}" for i in range(8)}


def test_close_stops_the_worker_and_a_later_parse_starts_one():
    parser = SandboxedParser()
    parser.parse(b"a", "a.txt")
    process = parser._worker.process
    parser.close()
    assert process.poll() is not None and parser.worker_pid is None
    assert parser.parse(b"b", "b.txt").text == "b"
    parser.close()


def test_the_shared_parser_parses():
    assert parse_sandboxed(b"# Title\n\nBody.", "notes.md").sections[0].heading_path == ("Title",)


# -- inputs that used to take minutes or gigabytes, now bounded in the parsers themselves -------------
@pytest.mark.parametrize(
    "name,data,words",
    [
        ("bomb.pdf", make.flate_bomb_pdf(), r"goes past a limit of pypdf \(Limit reached while decompressing"),
        ("text-bomb.pdf", make.text_bomb_pdf(3_000_000), "expands to more than 1,0"),
        ("deep.html", make.nested_html(), "nests elements more than 256 deep"),
        ("wide.csv", make.wide_csv(), "has 100,000 columns; the limit is 16,384"),
        ("quotes.csv", make.sniffer_csv(), "could not be read as CSV"),
    ],
    ids=["flate-bomb-pdf", "text-bomb-pdf", "nested-html", "wide-csv", "sniffer-csv"],
)
def test_hostile_inputs_fail_fast_with_a_clear_message(name, data, words):
    started = time.monotonic()
    with pytest.raises(InvalidInputError, match=words):
        parse_bytes(data, name)
    assert time.monotonic() - started < 10, f"{name} took {time.monotonic() - started:.1f} s"


@pytest.mark.parametrize(
    "name,data",
    [
        ("same-names.csv", make.same_name_csv()),
        ("long-list.html", make.long_list_html()),
        ("one-line.txt", b"a" * 20_000_000),
        ("one-heading.md", b"# " + b"*a " * 1_000_000 + b"\n\nBody."),
    ],
    ids=["repeated-csv-header", "long-ordered-list", "one-20mb-line", "megabyte-heading"],
)
def test_large_but_legal_inputs_parse_in_linear_time(name, data):
    started = time.monotonic()
    doc = parse_bytes(data, name)
    assert time.monotonic() - started < 10
    assert all(len(title) <= 300 for section in doc.sections for title in section.heading_path)
    assert doc.title is None or len(doc.title) <= 300


def test_dehyphenation_is_linear_in_a_long_word():
    from ingest.parse.pdf.structure import dehyphenate

    started = time.monotonic()
    assert dehyphenate(["A" * 5_000_000 + " exam-\nple"]) == ["A" * 5_000_000 + " example"]
    assert time.monotonic() - started < 5


# -- progress reports and the time they buy ----------------------------------------------------------
def test_progress_reports_reach_the_parent_and_each_buys_time():
    """Five pages 0.4 s apart take 2 s under a 1 s limit: each page reported done extends it."""
    parser = SandboxedParser(timeout_s=1, target=scans.steady_parse)
    reports = []
    try:
        doc = parser.parse(b"5", "slow.pdf", on_progress=lambda *report: reports.append(report))
        assert doc.text == "5 pages" and reports == [(done, 5, "page") for done in range(1, 6)]
    finally:
        parser.close()


def test_a_parse_that_stalls_after_a_report_is_stopped(monkeypatch):
    monkeypatch.setattr(sandbox_worker, "SECONDS_PER_UNIT", 0.5)  # the parent's clock: 1 s plus 0.5 s per page
    parser = SandboxedParser(timeout_s=1, target=scans.stalled_parse)
    reports = []
    try:
        started = time.monotonic()
        with pytest.raises(ParseTimeoutError) as info:
            parser.parse(b"x", "stalled.pdf", on_progress=lambda *report: reports.append(report))
        assert 1.5 <= time.monotonic() - started < 5 and reports == [(1, 5, "page")]
        assert str(info.value).startswith(
            "stalled.pdf took longer than 1.5 s to parse (the 1 s limit plus 0.5 s for each page done: 1)"
        )
        parser.target = make.echo_parse
        _recovers(parser)
    finally:
        parser.close()


def test_a_callback_that_raises_stops_the_parse():
    parser = SandboxedParser(timeout_s=30, target=scans.steady_parse)

    def cancel(done, total, unit):
        raise KeyboardInterrupt  # what a cancelled job's callback may raise

    try:
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            parser.parse(b"50", "long.pdf", on_progress=cancel)
        assert time.monotonic() - started < 5 and parser.worker_pid is None  # the worker was stopped
        parser.target = make.echo_parse
        _recovers(parser)
    finally:
        parser.close()


@pytest.mark.slow
def test_ocr_progress_and_the_password_pass_through_the_shared_pool():
    pages = [scans.text_image([f"Scanned page number {n}"]) for n in (1, 2)]
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(scans.image_pdf(pages))))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    reports = []
    doc = parse_sandboxed(
        buffer.getvalue(), "scan.pdf", password="secret", on_progress=lambda *report: reports.append(report)
    )
    assert doc.text == "Scanned page number 1\n\nScanned page number 2" and doc.metadata["ocr_pages"] == [1, 2]
    assert reports == [(0, 2, "page"), (1, 2, "page"), (2, 2, "page")]


@pytest.mark.slow
def test_a_pdf_of_5000_image_pages_is_refused_within_the_time_limit():
    started = time.monotonic()
    with pytest.raises(DocumentParseError, match="many.pdf has more than 200 pages without a text layer"):
        parse_sandboxed(scans.many_image_pages_pdf(5000), "many.pdf")
    assert time.monotonic() - started < TIMEOUT_S
