"""Outlook .msg attachments and attached messages, on messages built at run time (``msg_fixtures``)."""

from __future__ import annotations

import pytest

from ingest.parse import parse_bytes
from ingest.parse.mail import model, parse_msg
from tests.ingest.parse.msg_fixtures import Msg, MsgFile, build_msg

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
NOTES = MsgFile("notes.txt", b"Revenue grew 12% in Europe.", "text/plain")
CHART = MsgFile("chart.png", PNG, "image/png")


def test_msg_attachments_are_documents_and_small_texts_are_shown_after_the_body(valid_sections):
    data = build_msg(Msg("Quarterly figures", "See the attached notes.", files=[NOTES, CHART]))
    doc = parse_bytes(data, "figures.msg")  # by its bytes, as an upload is
    valid_sections(doc)
    assert doc.media_type == "application/vnd.ms-outlook" and doc.title == "Quarterly figures"
    assert [(a.filename, a.media_type, a.data) for a in doc.attachments] == [
        ("notes.txt", "text/plain", NOTES.data),
        ("chart.png", "image/png", PNG),
    ]
    assert doc.text.startswith(
        "Subject: Quarterly figures\nFrom: Ana Lima <ana@example.org>\nAttachments: notes.txt, chart.png"
    )
    (shown,) = [s for s in doc.sections if s.location == "attachment notes.txt"]
    assert doc.text[shown.start : shown.end] == "Revenue grew 12% in Europe."
    assert shown.heading_path == ("Attachment notes.txt",)


def test_msg_attached_message_is_read_under_its_own_heading_and_its_files_kept(valid_sections):
    minutes = Msg("Minutes of Monday", "We agreed on the analytical engine.", "Bob <bob@example.org>", files=[CHART])
    doc = parse_msg(build_msg(Msg("Fwd: Minutes of Monday", "See the attached minutes.", messages=[minutes])), "f.msg")
    valid_sections(doc)
    nested = [s for s in doc.sections if s.location == "attached message 1"]
    assert {s.heading_path for s in nested} == {("Attached message: Minutes of Monday",)}
    nested_text = doc.text[nested[0].start : nested[-1].end]
    assert "Subject: Minutes of Monday\nFrom: Bob <bob@example.org>\nAttachments: chart.png" in nested_text
    assert "We agreed on the analytical engine." in nested_text
    assert [a.filename for a in doc.attachments] == ["chart.png"]


def test_msg_attachments_beyond_the_limit_are_named_but_left_out(monkeypatch):
    monkeypatch.setattr(model, "MAX_ATTACHMENTS", 1)
    doc = parse_msg(build_msg(Msg("Two files", "Both attached.", files=[CHART, NOTES])), "two.msg")
    assert [a.filename for a in doc.attachments] == ["chart.png"]
    assert doc.metadata["attachments_left_out"] == ["notes.txt"]
    assert "Attachments: chart.png, notes.txt" in doc.text


@pytest.mark.parametrize("nul_terminated", [False, True])
def test_msg_strings_ending_in_nul_are_read_clean(nul_terminated):
    """Some writers end string streams with a UTF-16 NUL; the type and headers must not carry it."""
    doc = parse_msg(build_msg(Msg("Notes", "Attached.", files=[NOTES]), nul_terminated), "nul.msg")
    assert doc.title == doc.metadata["subject"] == "Notes"
    assert doc.metadata["from"] == "Ana Lima <ana@example.org>"
    assert [(a.filename, a.media_type) for a in doc.attachments] == [("notes.txt", "text/plain")]
    assert "\x00" not in doc.text and "Revenue grew 12% in Europe." in doc.text
