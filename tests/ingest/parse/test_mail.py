"""E-mail parsers: .eml (standard library) and .msg (extract-msg) on real messages and built ones."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from ingest.errors import DocumentParseError
from ingest.parse.mail import model, parse_eml, parse_msg

MORE = Path(__file__).resolve().parents[3].parent / "shared/data/documents-more"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def _facts(suffixes: tuple[str, ...]) -> list[tuple[str, str, str]]:
    if not (MORE / "facts.jsonl").is_file():
        return []
    lines = (MORE / "facts.jsonl").read_text("utf-8").splitlines()
    facts = [json.loads(line) for line in lines if line.strip()]
    return [(f["file"], f["kind"], f["text"]) for f in facts if f["file"].endswith(suffixes)]


def _parse_file(name: str):
    path = MORE / name
    if not path.is_file():
        pytest.skip(f"{path} not found; lay out ../shared beside the repository to run this")
    parse = parse_msg if name.endswith(".msg") else parse_eml
    return parse(path.read_bytes(), path.name)


@pytest.mark.parametrize(("name", "kind", "fact"), _facts((".eml", ".msg")))
def test_real_message_facts(name, kind, fact, valid_sections):
    doc = _parse_file(name)
    valid_sections(doc)
    if kind == "subject":
        assert doc.title == fact and doc.metadata["subject"] == fact
        assert doc.text.startswith(f"Subject: {fact}\n")
    else:
        assert fact in doc.text


def test_png_attachment_is_kept_and_named():
    doc = _parse_file("apache_tika/testEmailWithPNGAtt.eml")
    assert [(a.filename, a.media_type) for a in doc.attachments] == [("testPNG.png", "image/png")]
    assert doc.attachments[0].data.startswith(b"\x89PNG")
    header = doc.text[doc.sections[0].start : doc.sections[0].end]
    assert header.splitlines() == [
        "Subject: Test Attachment Email",
        "From: Tika Test <XXXX@apache.org>",
        "To: Tika Test <XXXX@apache.org>",
        "Date: Wed, 20 Jul 2016 17:35:02 +0100",
        "Attachments: testPNG.png",
    ]
    assert doc.metadata["date"] == "2016-07-20T17:35:02+01:00"
    assert doc.text[doc.sections[1].start :].startswith("This email has a PNG attachment")


def test_text_attachments_are_documents_and_shown_after_the_body():
    doc = _parse_file("apache_tika/testRFC822_multipart_attachments.eml")
    assert [(a.filename, a.media_type) for a in doc.attachments] == [
        ("Test TxtA.txt", "text/plain"),
        ("Test TxtB.txt", "text/plain"),
    ]
    assert doc.attachments[0].data == b"This is Test TXTA File for parser"
    shown = [s for s in doc.sections if s.location == "attachment Test TxtA.txt"]
    assert [s.heading_path for s in shown] == [("Attachment Test TxtA.txt",)]
    assert doc.text[shown[0].start : shown[0].end] == "This is Test TXTA File for parser"
    assert "html body of the main msg" not in doc.text  # multipart/alternative: the plain version only


def test_msg_fields_and_body():
    doc = _parse_file("apache_tika/testMSG.msg")
    assert doc.media_type == "application/vnd.ms-outlook"
    assert doc.metadata["from"] == "Jukka Zitting <jukka.zitting@gmail.com>"
    assert doc.metadata["to"] == "tika-dev@lucene.apache.org"
    assert doc.metadata["date"] == "2009-01-29T19:16:40+00:00"
    assert "Date: Thu, 29 Jan 2009 19:16:40 +0000" in doc.text
    assert "\r" not in doc.text and doc.attachments == []


def _message(subject: str = "Quarterly plan") -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "Ada Lovelace <ada@example.org>"
    message["To"] = "Charles Babbage <charles@example.org>"
    message["Cc"] = "Mary Somerville <mary@example.org>"
    message["Date"] = "Tue, 01 Dec 2026 09:30:00 +0000"
    return message


def test_html_only_body_goes_through_the_html_cleaner(valid_sections):
    message = _message()
    html = (
        "<html><head><style>p {color: red}</style><script>track()</script></head><body>"
        "<h1>Plan</h1><p>We ship the engine in March.</p><h2>Budget</h2>"
        "<table><tr><th>Item</th><th>Cost</th></tr><tr><td>Gears</td><td>40</td></tr></table></body></html>"
    )
    message.set_content(html, subtype="html")
    doc = parse_eml(bytes(message), "plan.eml")
    valid_sections(doc)
    assert "Cc: Mary Somerville <mary@example.org>" in doc.text
    assert "We ship the engine in March." in doc.text and "Gears | 40" in doc.text
    body = doc.text[doc.sections[1].start :]
    assert "<" not in body and "track()" not in body and "color" not in body
    assert ("Plan", "Budget") in [s.heading_path for s in doc.sections]
    assert len(doc.tables) == 1 and doc.text[doc.tables[0].start :].startswith("Item | Cost")


def test_alternative_prefers_plain_text():
    message = _message()
    message.set_content("The plain version.")
    message.add_alternative("<p>The HTML version.</p>", subtype="html")
    doc = parse_eml(bytes(message), "alt.eml")
    assert "The plain version." in doc.text and "HTML version" not in doc.text


def test_unknown_charset_and_raw_header_bytes_do_not_fail():
    raw = (
        b"Subject: =?x-bogus?Q?caf=E9?= and caf\xe9\r\nFrom: J\xf6rg <a@example.org>\r\nTo: b@example.org\r\n"
        b"Content-Type: text/plain; charset=x-bogus\r\n\r\ncaf\xe9 cr\xe8me\r\n"
    )
    doc = parse_eml(raw, "bogus.eml")
    assert "café crème" in doc.text
    doc.text.encode("utf-8")  # no surrogate escapes left from the raw header bytes
    assert doc.title.endswith("and café") and doc.metadata["from"] == "Jörg <a@example.org>"


def test_declared_charset_is_used_and_wrong_declarations_fall_back():
    raw = b"Subject: s\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4\r\n"
    assert "Привет" in parse_eml(raw, "koi8.eml").text
    utf8_as_ascii = b"Subject: s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nna\xc3\xafve\r\n"
    assert "naïve" in parse_eml(utf8_as_ascii, "ascii.eml").text


def test_attached_message_is_read_under_its_own_heading(valid_sections):
    inner = _message("Minutes of Monday")
    inner.set_content("We agreed on the analytical engine.")
    inner.add_attachment(PNG, maintype="image", subtype="png", filename="diagram.png")
    outer = _message("Fwd: Minutes of Monday")
    outer.set_content("See the attached minutes.")
    outer.add_attachment(inner)
    doc = parse_eml(bytes(outer), "fwd.eml")
    valid_sections(doc)
    assert doc.title == "Fwd: Minutes of Monday"
    nested = [s for s in doc.sections if s.location == "attached message 1"]
    assert {s.heading_path for s in nested} == {("Attached message: Minutes of Monday",)}
    nested_text = doc.text[nested[0].start : nested[-1].end]
    assert "Subject: Minutes of Monday" in nested_text and "Attachments: diagram.png" in nested_text
    assert "We agreed on the analytical engine." in nested_text
    assert [a.filename for a in doc.attachments] == ["diagram.png"]


def test_attachments_beyond_the_limit_are_named_but_left_out(monkeypatch):
    monkeypatch.setattr(model, "MAX_ATTACHMENTS", 2)
    message = _message()
    message.set_content("Four files.")
    for index in range(4):
        message.add_attachment(PNG, maintype="image", subtype="png", filename=f"scan{index}.png")
    doc = parse_eml(bytes(message), "many.eml")
    assert [a.filename for a in doc.attachments] == ["scan0.png", "scan1.png"]
    assert doc.metadata["attachments_left_out"] == ["scan2.png", "scan3.png"]
    assert "Attachments: scan0.png, scan1.png, scan2.png, scan3.png" in doc.text


def test_large_text_attachment_stays_a_document_only():
    message = _message()
    message.set_content("Body.")
    big = "x" * (model.MAX_INLINE_ATTACHMENT_BYTES + 1)
    message.add_attachment(big, filename="log.txt")
    message.add_attachment("small note", filename="../../etc/note.txt")
    doc = parse_eml(bytes(message), "logs.eml")
    assert [a.filename for a in doc.attachments] == ["log.txt", "note.txt"]
    assert big not in doc.text and "small note" in doc.text


def test_inline_image_with_a_name_is_an_attachment_and_unnamed_parts_are_skipped():
    message = _message()
    message.set_content("Logo below.")
    message.add_attachment(PNG, maintype="image", subtype="png", filename="logo.png", disposition="inline")
    message.add_attachment(b"\x00\x01", maintype="application", subtype="octet-stream", disposition="inline")
    doc = parse_eml(bytes(message), "inline.eml")
    assert [a.filename for a in doc.attachments] == ["logo.png"]


def test_not_an_email_is_refused():
    with pytest.raises(DocumentParseError, match="notes.eml has no e-mail headers"):
        parse_eml(b"Just some notes\nwithout any headers.\n", "notes.eml")


def test_msg_that_is_not_ole_is_refused_without_touching_the_disk(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    with pytest.raises(DocumentParseError, match="mail.msg is not an Outlook message"):
        parse_msg(str(secret).encode(), "mail.msg")


def test_corrupt_msg_names_the_file():
    path = MORE / "apache_tika/testMSG.msg"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with pytest.raises(DocumentParseError, match="broken.msg could not be read as an Outlook message"):
        parse_msg(path.read_bytes()[:5000], "broken.msg")


def test_bounce_report_and_global_message_are_read():
    raw = (
        b"From: MAILER-DAEMON@example.org\r\nTo: ada@example.org\r\nSubject: Undelivered Mail\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        b"Final-Recipient: rfc822; nobody@example.org\r\nStatus: 5.1.1\r\n"
        b"--B\r\nContent-Type: message/global\r\n\r\nSubject: =?utf-8?Q?Caf=C3=A9?=\r\nFrom: ada@example.org\r\n\r\n"
        b"Original text here.\r\n--B--\r\n"
    )
    doc = parse_eml(raw, "bounce.eml")
    assert "Final-Recipient: rfc822; nobody@example.org\nStatus: 5.1.1" in doc.text
    original = [s for s in doc.sections if s.heading_path == ("Attached message: Café",)]
    assert [doc.text[s.start : s.end] for s in original] == [
        "Subject: Café\nFrom: ada@example.org",
        "Original text here.",
    ]


@pytest.mark.parametrize("html", ["<html><body>\u200b</body></html>", "<!-- only a comment -->"])
def test_blank_html_body_leaves_the_headers(html):
    message = _message("Empty")
    message.set_content(html, subtype="html")
    doc = parse_eml(bytes(message), "empty.eml")
    assert doc.title == "Empty" and len(doc.sections) == 1


def test_word_file_named_msg_is_refused():
    path = MORE / "docling/greek_heading_styles.doc"  # an OLE compound file, but no message
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with pytest.raises(DocumentParseError, match="fake.msg could not be read as an Outlook message"):
        parse_msg(path.read_bytes(), "fake.msg")
