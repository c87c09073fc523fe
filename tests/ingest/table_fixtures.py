"""Documents with long tables, shared by the parser and the chunker tests.

Each table is long enough to span several chunks, so the chunker tests can
check that every chunk holding rows also holds the header. The Markdown header
costs 26 tokens (the tokenizer reads every dash of the delimiter row as one),
the HTML one 7: the chunker repeats a header only where it fits in a third of
``max_tokens``, so the Markdown table needs windows of 78 tokens or more.
"""

from __future__ import annotations

N_ROWS = 30

MARKDOWN_HEADER = "| Region | Product | Units | Revenue |\n|---|---|--:|--:|"
HTML_HEADER = "Region | Product | Units | Revenue"


def _row(i: int) -> tuple[str, str, str, str]:
    return f"North {i % 4}", f"Widget model {i}", str(10 * i + 3), f"{i * 1.5:.2f} EUR"


def markdown_rows(n_rows: int = N_ROWS) -> list[str]:
    """The body rows of ``markdown_table`` as they appear in its text."""
    return ["| " + " | ".join(_row(i)) + " |" for i in range(n_rows)]


def markdown_table(n_rows: int = N_ROWS) -> bytes:
    """A Markdown page: a heading, a paragraph, one pipe table, a closing paragraph."""
    rows = "\n".join(markdown_rows(n_rows))
    return (
        "# Sales\n\nQuarterly sales by region, one row per product.\n\n"
        f"{MARKDOWN_HEADER}\n{rows}\n\nTotals are in EUR and exclude tax.\n"
    ).encode()


def html_rows(n_rows: int = N_ROWS) -> list[str]:
    """The body rows of ``html_table`` as the HTML parser writes them."""
    return [" | ".join(_row(i)) for i in range(n_rows)]


def html_table(n_rows: int = N_ROWS) -> bytes:
    """An HTML page whose table has a caption, a ``<thead>`` row and a ``<tbody>``."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in _row(i)) + "</tr>\n" for i in range(n_rows))
    head = "".join(f"<th>{name}</th>" for name in HTML_HEADER.split(" | "))
    return (
        "<html><head><title>Sales</title></head><body><h1>Sales</h1>\n"
        "<p>Quarterly sales by region, one row per product, for the whole company.</p>\n"
        f"<table><caption>Units and revenue</caption><thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>\n"
        "<p>Totals are in EUR and exclude tax.</p></body></html>"
    ).encode()
