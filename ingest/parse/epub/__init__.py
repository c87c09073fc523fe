"""EPUB e-books: ``parse(data, filename)`` gives the chapters in reading order, each a location.

See ``book`` for the reading rules and ``package`` for the package document and table of contents.
"""

from __future__ import annotations

from .book import MEDIA_TYPE, parse

__all__ = ["MEDIA_TYPE", "parse"]
