"""The Markdown renderer (api.render): safe HTML, well-formed marks over exactly the range, structure kept."""

from __future__ import annotations

import random
import re
from html.parser import HTMLParser

import pytest

from api.render import MARKDOWN, MAX_MARKS, TAGS, place_sentinels, render_markdown, sanitize, wrap_marks
from core.errors import InvalidInputError

HOSTILE = """# Notes <script>alert(1)</script>

<script>document.cookie</script>
<img src=x onerror="alert(2)">
<style>body { display: none }</style>
<!-- a comment that hides <script>alert(3)</script> -->
<a href="javascript:alert(4)" onclick="alert(5)">click</a>

[a link](javascript:alert(6)) and [another](JaVaScRiPt:alert(7)) and ![img](javascript:alert(8))
[data](data:text/html;base64,PHNjcmlwdD4=) <javascript:alert(9)> [ok](https://example.com "t")

A forged mark: \ue000forged\ue001 <mark class="cite" id="mark-0" data-mark="0">fake</mark>
"""

STRUCTURED = """# Install the tool

The tool needs *Python 3.11* and **two** packages.
See the [guide](https://example.com/guide) first, or [the notes][notes] at <https://example.com/notes>.

[notes]: https://example.com/notes "The notes"

## Settings

- port: where the server listens
- host: the address it binds
  on more than one line

1. first step
2. second step

> A quoted note that runs
> over two lines.

```python
server.port = 8080
print("ready")
```

| name | value |
|------|------:|
| port | 8080 |
| host | local |

Closing words
-------------

***

The end of the document.
"""


class Tree(HTMLParser):
    """Every element with its attributes, the text of each mark piece, and whether start and end tags nest."""

    VOID = {"br", "hr", "img", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.stack: list[tuple[str, list[str] | None]] = []  # open elements; a mark's with the list of its text
        self.nested = True
        self.comments: list[str] = []
        self.marks: dict[str, list[str]] = {}  # data-mark -> the text of each piece
        self.data: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        if tag in self.VOID:
            return
        piece = None
        if tag == "mark":
            piece = []
            self.marks.setdefault(attrs.get("data-mark"), []).append(piece)
        self.stack.append((tag, piece))

    def handle_endtag(self, tag):
        if tag not in self.VOID:
            self.nested = self.nested and bool(self.stack) and self.stack.pop()[0] == tag

    def handle_data(self, data):
        self.data.append(data)
        for _, piece in self.stack:
            if piece is not None:
                piece.append(data)

    def handle_comment(self, data):
        self.comments.append(data)

    def marked(self, mark: str) -> list[str]:
        """The text of each piece of range ``mark``."""
        return ["".join(piece) for piece in self.marks.get(mark, [])]


def tree(html: str) -> Tree:
    parsed = Tree()
    parsed.feed(html)
    parsed.close()
    parsed.nested = parsed.nested and not parsed.stack  # every element closed
    return parsed


def words(text: str) -> str:
    return "".join(text.split())


def test_a_hostile_document_injects_no_script_style_handler_or_javascript_url():
    html = render_markdown(HOSTILE).html
    parsed = tree(html)
    names = {name for name, _ in parsed.elements}
    assert names <= TAGS and not names & {"script", "style", "img", "iframe"}, names
    for name, attrs in parsed.elements:
        assert not [a for a in attrs if a.startswith("on") or a == "style"], (name, attrs)
        for url in (attrs.get("href") or "", attrs.get("src") or ""):
            assert not re.match(r"\s*(javascript|data|vbscript):", url, re.I), url
    assert not parsed.comments and "<mark" not in html
    assert {a["href"] for n, a in parsed.elements if n == "a"} == {"https://example.com"}
    assert all(a.get("rel") == "noopener noreferrer" for n, a in parsed.elements if n == "a")
    # raw HTML is shown as the text it is, not dropped; the forged sentinels are inert
    assert "<script>document.cookie</script>" in "".join(parsed.data)
    assert "\ufffdforged\ufffd" in html and "\ue000" not in html


def test_the_sanitiser_alone_stops_what_the_renderer_would_never_emit():
    dirty = (
        '<script>alert(1)</script><style>p{}</style><img src=x onerror="alert(2)"><!-- c -->'
        '<a href="javascript:alert(3)" onclick="x">a</a><p style="color:red" id="p">b</p>'
        '<mark class="hidden" data-mark="0" onmouseover="x">m</mark><code class="language-py">c</code>'
    )
    clean = sanitize(dirty)
    parsed = tree(clean)
    assert [n for n, _ in parsed.elements] == ["a", "p", "mark", "code"]
    assert dict(parsed.elements) == {
        "a": {"rel": "noopener noreferrer"},
        "p": {},
        "mark": {"data-mark": "0"},
        "code": {"class": "language-py"},
    }
    assert "alert" not in clean and not parsed.comments


def test_a_range_across_paragraphs_is_marked_exactly_and_well_formed():
    text = "alpha beta gamma\n\ndelta epsilon zeta\n\neta theta"
    start, end = text.index("gamma"), text.index("epsilon") + len("epsilon")
    raw, marked = wrap_marks(MARKDOWN.render(place_sentinels(text, [(start, end)])), 1)
    assert marked and tree(raw).nested
    html = render_markdown(text, [(start, end)]).html
    parsed = tree(html)
    assert parsed.nested
    pieces = parsed.marked("0")
    assert len(pieces) == 2 and words("".join(pieces)) == words(text[start:end])
    assert html.count('id="mark-0"') == 1 and 'id="mark-0"' in re.search("<mark[^>]*>", html).group()
    assert "beta <mark" in html and "</mark> zeta" in html


def test_a_code_fence_is_pre_code_and_a_range_in_it_is_marked_inside_the_code():
    text = 'Run this:\n\n```python\nserver.port = 8080\nprint("ready")\n```\n'
    start = text.index("server")
    html = render_markdown(text, [(start, start + len("server.port"))]).html
    assert '<pre><code class="language-python"><mark class="cite" data-mark="0" id="mark-0">server.port</mark>' in html
    from_fence = render_markdown(text, [(text.index("```"), len(text))]).html  # a chunk that starts at the fence
    assert "<pre><code" in from_fence and "```" not in from_fence
    assert words("".join(tree(from_fence).marked("0"))) == words('server.port = 8080\nprint("ready")')


def _boundaries(text: str) -> list[int]:
    """Offsets where a word starts or ends, and where a line starts: where reader spans and chunks begin and end."""
    spots = {0, len(text)} | {m.start() for m in re.finditer(r"(?m)^", text)}
    return sorted(spots | {m.start() for m in re.finditer(r"\w+", text)} | {m.end() for m in re.finditer(r"\w+", text)})


def _in_order(part: str, whole: str) -> bool:
    """Whether the characters of ``part`` appear in ``whole`` in the same order."""
    rest = iter(whole)
    return all(c in rest for c in part)


def test_a_range_never_changes_the_structure_of_the_document():
    plain = render_markdown(STRUCTURED).html
    shown = words("".join(tree(plain).data))
    spots = _boundaries(STRUCTURED)
    rng = random.Random(7)
    for _ in range(150):
        start, end = sorted(rng.sample(spots, 2))
        rendered = render_markdown(STRUCTURED, [(start, end)])
        unmarked = re.sub(r"</?mark[^>]*>", "", rendered.html)
        assert unmarked == plain, (start, end, STRUCTURED[start:end])
        assert tree(rendered.html).nested
        if rendered.marked:
            covered = words("".join(tree(rendered.html).marked("0")))
            # what is marked is shown text, in one stretch, and every character of it is in the range
            assert covered in shown and _in_order(covered, words(STRUCTURED[start:end])), (start, end)


def test_a_range_that_starts_at_a_heading_or_list_marker_keeps_the_heading_and_list():
    text = "intro\n\n## Settings\n\n- port: 8080\n- host: local\n\nafter"
    html = render_markdown(text, [(text.index("## Settings"), text.index("after"))]).html
    assert '<h2><mark class="cite" data-mark="0" id="mark-0">Settings</mark></h2>' in html
    assert "<ul>" in html and html.count("<li><mark") == 2 and "after</p>" in html and "<p>after" in html


def test_overlapping_ranges_nest_and_each_gets_its_id():
    text = "one two three four five"
    html = render_markdown(text, [(0, text.index("four")), (text.index("two"), len(text))]).html
    parsed = tree(html)
    assert parsed.nested and 'id="mark-0"' in html and 'id="mark-1"' in html
    assert words("".join(parsed.marked("0"))) == words("one two three ")
    assert words("".join(parsed.marked("1"))) == words("two three four five")


def test_a_range_from_inside_a_link_target_starts_after_it_and_leaves_the_url_whole():
    text = (
        'see [the guide](https://example.com/guide/page "Guide") and <https://example.org/x> now\n\n[r]: https://r.org'
    )
    for inside in ("example.com", "guide/page", "Guide", "example.org", "r.org"):
        rendered = render_markdown(text, [(text.index(inside), len(text))])
        hrefs = {a["href"] for n, a in tree(rendered.html).elements if n == "a"}
        assert hrefs == {"https://example.com/guide/page", "https://example.org/x"}, inside
        assert "now" in "".join(tree(rendered.html).marked("0")) or inside == "r.org"
    ending = render_markdown(text, [(0, text.index("guide/page"))])  # ends in the URL: marks the link's text
    assert tree(ending.html).marked("0")[-1] == "the guide"


def test_an_empty_range_or_one_whose_sentinel_was_lost_marks_nothing():
    assert render_markdown("some words", [(3, 3)]) == render_markdown("some words")
    html, marked = wrap_marks('<p><a href="https://x.org/%EE%80%80">a</a> b\ue001 c</p>', 1)  # its open was lost
    assert not marked and html == '<p><a href="https://x.org/">a</a> b c</p>'


@pytest.mark.parametrize("marks", [[(5, 2)], [(-1, 3)], [(0, 11)], [(0, 1)] * (MAX_MARKS + 1)])
def test_ranges_outside_the_text_are_refused_with_the_bounds(marks):
    with pytest.raises(InvalidInputError, match="start <= end <= 10|at most"):
        render_markdown("ten chars!", marks)
