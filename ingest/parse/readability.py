"""Main-content detection for HTML pages, after Mozilla's Readability.

``strip_boilerplate`` removes what is never content: scripts, styles, forms,
navigation, headers, footers, sidebars, hidden elements, edit links, citation
back-links. ``main_content`` then scores containers the way Readability does:
every paragraph-like element of 25+ characters gives its ancestors
``1 + commas + min(len/100, 3)`` points (full to the parent, half to the
grandparent, divided by ``3 * level`` further up, five levels at most), a
container's class and id add or subtract 25, and the final score is scaled by
``1 - link density``. The best
container wins, with its siblings when they score close to it or read like
prose; within it, link farms and widget-like blocks are removed
("clean conditionally"). The tree is edited in place.
"""

from __future__ import annotations

import re

from lxml.html import HtmlElement

REMOVED_TAGS = (
    "script", "style", "noscript", "template", "iframe", "object", "embed", "canvas",
    "svg", "form", "button", "input", "select", "textarea", "nav", "aside", "header",
    "footer", "menu", "dialog", "link", "meta",
)  # fmt: skip
BOILERPLATE_ROLES = {
    "navigation", "banner", "contentinfo", "complementary", "menu", "menubar",
    "search", "dialog", "alertdialog", "toolbar",
}  # fmt: skip
# Matched against each class/id token on its own, so "share" does not hit "shareholders".
BOILERPLATE_TOKEN = re.compile(
    r"(mw-)?editsection|edit-?link|.*cite-backlink|navbox.*|noprint|catlinks|toc|"
    r"skip-?(link|nav).*|jump-?link.*|breadcrumbs?|share|sharing|social.*|cookie.*|hatnote",
    re.IGNORECASE,
)
UNLIKELY = re.compile(
    r"-ad-|ai2html|banner|breadcrumbs|combx|comment|community|cover-wrap|disqus|extra|footer|gdpr|"
    r"header|legends|menu|related|remark|replies|rss|shoutbox|sidebar|skyscraper|social|sponsor|"
    r"supplemental|ad-break|agegate|pagination|pager|popup|yom-remote",
    re.IGNORECASE,
)
MAYBE_CANDIDATE = re.compile(r"and|article|body|column|content|main|shadow", re.IGNORECASE)
POSITIVE = re.compile(
    r"article|body|content|entry|hentry|h-entry|main|page|pagination|post|text|blog|story", re.IGNORECASE
)
NEGATIVE = re.compile(
    r"-ad-|hidden|^hid$| hid$| hid |^hid |banner|combx|comment|com-|contact|footer|gdpr|masthead|media|"
    r"meta|outbrain|promo|related|scroll|share|shoutbox|sidebar|skyscraper|sponsor|shopping|tags|widget",
    re.IGNORECASE,
)
BLOCK_TAGS = {
    "address", "article", "blockquote", "dd", "div", "dl", "dt", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "li", "main", "ol", "p", "pre", "section", "table", "ul",
}  # fmt: skip
_TAG_SCORE = {"div": 5, "pre": 3, "td": 3, "blockquote": 3, "address": -3, "ol": -3, "ul": -3, "dl": -3,
              "dd": -3, "dt": -3, "li": -3, "form": -3, "h1": -5, "h2": -5, "h3": -5, "h4": -5, "h5": -5,
              "h6": -5, "th": -5}  # fmt: skip
_COMMAS = re.compile(r"[,\u060c\ufe50\ufe10\ufe11\u2e41\u2e34\u2e32\uff0c\u3001]")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_WS = re.compile(r"\s+")


def strip_boilerplate(root: HtmlElement) -> None:
    """Remove comments, non-content tags, hidden elements and boilerplate classes/roles in place."""
    doomed = []
    for el in root.iter():
        if not isinstance(el.tag, str):  # comments and processing instructions
            doomed.append(el)
            continue
        tag = _local(el)
        tokens = f"{el.get('class', '')} {el.get('id', '')}".split()
        # An article's own <header> holds its title and byline, unlike the site banner.
        article_header = tag == "header" and _inside(el, ("article", "main"))
        if (
            (tag in REMOVED_TAGS and not article_header)
            or el.get("role", "").lower() in BOILERPLATE_ROLES
            or el.get("hidden") is not None
            or el.get("aria-hidden") == "true"
            or _HIDDEN_STYLE.search(el.get("style", ""))
            or any(BOILERPLATE_TOKEN.fullmatch(t) for t in tokens)
        ):
            doomed.append(el)
    for el in doomed:
        if el.getparent() is not None:
            el.drop_tree()  # keeps the tail text, unlike parent.remove()


def main_content(body: HtmlElement) -> HtmlElement:
    """Return the element holding the page's main content (``body`` when none stands out)."""
    for el in list(body.iter()):
        match = f"{el.get('class', '')} {el.get('id', '')}"
        if (
            _local(el) not in {"body", "a", "table", "tbody", "tr", "td", "th", "article", "main"}
            and UNLIKELY.search(match)
            and not MAYBE_CANDIDATE.search(match)
            and el.getparent() is not None
        ):
            el.drop_tree()
    scores = _score(body)
    if not scores:
        return body
    ranked = sorted(scores, key=lambda el: scores[el] * (1 - link_density(el)), reverse=True)
    top = _promote(ranked[0], ranked[1:5], scores, body)
    content = _with_siblings(top, scores)
    _clean_conditionally(content, scores)
    return content


def text_of(el: HtmlElement) -> str:
    """The element's text with whitespace collapsed."""
    return _WS.sub(" ", el.text_content()).strip()


def link_density(el: HtmlElement) -> float:
    """Share of the element's text inside links; in-page (``#``) links count 0.3."""
    total = len(text_of(el))
    if not total:
        return 0.0
    linked = sum(len(text_of(a)) * (0.3 if a.get("href", "").startswith("#") else 1.0) for a in el.iter("a"))
    return min(linked / total, 1.0)


def class_weight(el: HtmlElement) -> int:
    """+25 / -25 for each of class and id that looks like content / boilerplate."""
    weight = 0
    for value in (el.get("class"), el.get("id")):
        if value:
            weight += 25 * (bool(POSITIVE.search(value)) - bool(NEGATIVE.search(value)))
    return weight


def _local(el: HtmlElement) -> str:
    return el.tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower() if isinstance(el.tag, str) else ""


def _score(body: HtmlElement) -> dict[HtmlElement, float]:
    scores: dict[HtmlElement, float] = {}
    for el in body.iter("p", "td", "pre", "section", "h2", "h3", "h4", "h5", "h6", "div"):
        if _local(el) == "div" and any(_local(c) in BLOCK_TAGS for c in el):
            continue  # only divs used as paragraphs score
        text = text_of(el)
        if len(text) < 25:
            continue
        points = 1 + len(_COMMAS.findall(text)) + min(len(text) // 100, 3)
        ancestor, level = el.getparent(), 0
        while ancestor is not None and level < 5 and _local(ancestor) != "html":
            if ancestor not in scores:
                scores[ancestor] = _TAG_SCORE.get(_local(ancestor), 0) + class_weight(ancestor)
            scores[ancestor] += points / (1 if level == 0 else 2 if level == 1 else level * 3)
            ancestor, level = ancestor.getparent(), level + 1
    return scores


def _promote(top: HtmlElement, runners_up: list, scores: dict, body: HtmlElement) -> HtmlElement:
    """Move up to a common ancestor when the content is split over near-equal candidates."""
    close = [c for c in runners_up if scores[c] >= 0.75 * scores[top]]
    if len(close) >= 3:
        parent = top.getparent()
        while parent is not None and parent is not body:
            if sum(any(a is parent for a in c.iterancestors()) for c in close) >= 3:
                top = parent
                break
            parent = parent.getparent()
    while top is not body and top.getparent() is not None and len(top.getparent()) == 1:
        top = top.getparent()
    return top


def _with_siblings(top: HtmlElement, scores: dict) -> HtmlElement:
    parent = top.getparent()
    if parent is None or _local(top) == "body":
        return top
    threshold = max(10.0, scores.get(top, 0) * 0.2)
    keep = []
    for sibling in parent:
        if sibling is top:
            keep.append(sibling)
            continue
        bonus = scores.get(top, 0) * 0.2 if sibling.get("class") and sibling.get("class") == top.get("class") else 0
        if sibling in scores and scores[sibling] + bonus >= threshold:
            keep.append(sibling)
        elif _local(sibling) == "p":
            text, density = text_of(sibling), link_density(sibling)
            if (len(text) > 80 and density < 0.25) or (density == 0 and re.search(r"\.( |$)", text)):
                keep.append(sibling)
    if len(keep) == 1:
        return top
    wrapper = parent.makeelement("div", {})
    for el in keep:
        wrapper.append(el)  # moves it (with its tail text) out of the page
    return wrapper


def _clean_conditionally(content: HtmlElement, scores: dict) -> None:
    for el in reversed(list(content.iter("table", "ul", "ol", "div", "section"))):
        if el is content or el.getparent() is None or _inside(el, ("pre", "code")):
            continue
        tag = _local(el)
        if (tag == "table" and _is_data_table(el)) or (_inside(el, ("table",)) and _is_data_table(_table_of(el))):
            continue
        if tag == "div" and not any(_local(c) in BLOCK_TAGS for c in el):
            continue  # a div used as a paragraph; Readability turns these into <p> first
        if len(el) == 1 and _local(el[0]) == "table" and _is_data_table(el[0]):
            continue  # a mere wrapper around a data table (a filing's table of contents)
        weight = class_weight(el)
        if weight + scores.get(el, 0) < 0 or _looks_like_widget(el, tag, weight):
            el.drop_tree()


def _looks_like_widget(el: HtmlElement, tag: str, weight: int) -> bool:
    text = text_of(el)
    if len(_COMMAS.findall(text)) >= 10:
        return False
    is_list = tag in {"ul", "ol"}
    paragraphs = sum(1 for _ in el.iter("p"))
    images = sum(1 for _ in el.iter("img"))
    items = sum(1 for _ in el.iter("li")) - 100
    inputs = sum(1 for _ in el.iter("input"))
    headings = sum(len(text_of(h)) for h in el.iter("h1", "h2", "h3", "h4", "h5", "h6"))
    density = link_density(el)
    return (
        (images > 1 and paragraphs / images < 0.5 and not _inside(el, ("figure",)))
        or (not is_list and items > paragraphs)
        or inputs > paragraphs // 3
        or (not is_list and headings < 0.9 * max(len(text), 1) and len(text) < 25 and (images == 0 or images > 2))
        or (not is_list and weight < 25 and density > 0.2)
        or (weight >= 25 and density > 0.5)
    )


def _inside(el: HtmlElement, tags: tuple[str, ...]) -> bool:
    return any(_local(a) in tags for a in el.iterancestors())


def _table_of(el: HtmlElement) -> HtmlElement:
    return next(a for a in el.iterancestors() if _local(a) == "table")


def _is_data_table(table: HtmlElement) -> bool:
    """Readability's test: a table of data rather than one used for layout."""
    if table.get("role") == "presentation" or table.get("datatable") == "0":
        return False
    if table.get("summary") or any(True for _ in table.iter("caption", "col", "colgroup", "tfoot", "thead", "th")):
        return True
    if any(True for _ in table.iterdescendants("table")):
        return False
    rows = table.findall(".//tr")
    columns = max((len(r.findall("td")) + len(r.findall("th")) for r in rows), default=0)
    return len(rows) >= 10 or columns > 4 or len(rows) * columns > 10
