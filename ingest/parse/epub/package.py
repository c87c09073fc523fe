"""An EPUB's package document (OPF) and table of contents: metadata, manifest, spine and chapter titles.

``read_package`` follows ``META-INF/container.xml`` to the OPF file and reads
its Dublin Core metadata (title, creators, language), its manifest (each item's
path inside the archive, media type and properties) and its spine (the reading
order). ``read_toc`` reads the table of contents, from the EPUB 3 navigation
document where there is one, else from the EPUB 2 NCX file, as a map from each
chapter file to its entries. XML is parsed without DTDs, entities or network
access, and leniently (``recover``), since real books are often not well formed.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass, field
from urllib.parse import unquote

from lxml import etree

from ingest.errors import DocumentParseError

from ..container import read_member

MAX_XML_BYTES = 16 << 20  # the OPF, NCX or navigation document
_EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"


@dataclass(frozen=True)
class ManifestItem:
    """One file of the book: its path inside the archive, media type and OPF properties ("nav", ...)."""

    path: str
    media_type: str
    properties: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TocEntry:
    """One entry of the table of contents: its label and the fragment it points at ("" for the whole file)."""

    label: str
    fragment: str


@dataclass
class Package:
    """What the OPF says: metadata, the manifest by id, the spine's item ids in order, the NCX's id."""

    title: str = ""
    creators: list[str] = field(default_factory=list)
    language: str = ""
    manifest: dict[str, ManifestItem] = field(default_factory=dict)
    spine: list[str] = field(default_factory=list)
    ncx_id: str = ""


def read_package(zf: zipfile.ZipFile, filename: str) -> Package:
    """Read the package document the container points at.

    Raises:
        DocumentParseError: no package document, or one that is not XML.
    """
    opf_path = _rootfile(zf, filename)
    root = _xml(zf, opf_path, filename)
    if root is None:
        raise DocumentParseError(f"{filename}: its package document {opf_path} is not XML; the e-book is corrupt")
    base = posixpath.dirname(opf_path)
    package = Package()
    for el in root.iter(etree.Element):
        name = etree.QName(el).localname
        text = " ".join("".join(el.itertext()).split())
        if name == "title" and not package.title:
            package.title = text
        elif name == "creator" and text:
            package.creators.append(text)
        elif name == "language" and not package.language:
            package.language = text
        elif name == "item" and el.get("id") and el.get("href"):
            package.manifest[el.get("id")] = ManifestItem(
                resolve(base, el.get("href")), el.get("media-type", ""), frozenset(el.get("properties", "").split())
            )
        elif name == "spine":
            package.ncx_id = el.get("toc", "")
        elif name == "itemref" and el.get("idref"):
            package.spine.append(el.get("idref"))
    return package


def read_toc(zf: zipfile.ZipFile, package: Package, filename: str) -> dict[str, list[TocEntry]]:
    """The table of contents as ``{chapter path: its entries in order}``; empty when the book has none."""
    nav = next((item for item in package.manifest.values() if "nav" in item.properties), None)
    if nav is not None and (root := _xml(zf, nav.path, filename)) is not None:
        navs = [el for el in root.iter(etree.Element) if etree.QName(el).localname == "nav"]
        toc = next((el for el in navs if "toc" in el.get(_EPUB_TYPE, "").split()), navs[0] if navs else None)
        if toc is not None:
            links = [(el.get("href"), el) for el in toc.iter(etree.Element) if etree.QName(el).localname == "a"]
            return _entries(posixpath.dirname(nav.path), [(href, _label(el)) for href, el in links if href])
    ncx = package.manifest.get(package.ncx_id)
    if ncx is not None and (root := _xml(zf, ncx.path, filename)) is not None:
        points = []
        for point in root.iter(etree.Element):
            if etree.QName(point).localname == "navPoint":
                src = next((el.get("src") for el in point if etree.QName(el).localname == "content"), None)
                label = next((_label(el) for el in point if etree.QName(el).localname == "navLabel"), "")
                if src:
                    points.append((src, label))
        return _entries(posixpath.dirname(ncx.path), points)
    return {}


def encrypted_paths(zf: zipfile.ZipFile, filename: str) -> set[str]:
    """The archive paths ``META-INF/encryption.xml`` lists as encrypted (DRM, or obfuscated fonts)."""
    root = _xml(zf, "META-INF/encryption.xml", filename)
    if root is None:
        return set()
    references = (el for el in root.iter(etree.Element) if etree.QName(el).localname == "CipherReference")
    return {resolve("", el.get("URI", "")) for el in references if el.get("URI")}


def resolve(base: str, href: str) -> str:
    """The archive path of ``href`` (relative to the directory ``base``), fragment removed."""
    return posixpath.normpath(posixpath.join(base, unquote(href.split("#", 1)[0])))


def _entries(base: str, links: list[tuple[str, str]]) -> dict[str, list[TocEntry]]:
    toc: dict[str, list[TocEntry]] = {}
    for href, label in links:
        if label:
            fragment = href.split("#", 1)[1] if "#" in href else ""
            toc.setdefault(resolve(base, href), []).append(TocEntry(label, fragment))
    return toc


def _label(el: etree._Element) -> str:
    return " ".join("".join(el.itertext()).split())


def _rootfile(zf: zipfile.ZipFile, filename: str) -> str:
    """The OPF path from ``META-INF/container.xml``, else the archive's first ``.opf`` file."""
    root = _xml(zf, "META-INF/container.xml", filename)
    if root is not None:
        for el in root.iter(etree.Element):
            if etree.QName(el).localname == "rootfile" and el.get("full-path"):
                return el.get("full-path")
    opf = next((name for name in zf.namelist() if name.lower().endswith(".opf")), None)
    if opf is None:
        raise DocumentParseError(
            f"{filename} has no package document (META-INF/container.xml, *.opf), so it is no EPUB e-book; "
            "check that it opens in an e-book reader"
        )
    return opf


def _xml(zf: zipfile.ZipFile, path: str, filename: str) -> etree._Element | None:
    """The root of one XML member, or None when it is missing or not XML."""
    try:
        data = read_member(zf, path, MAX_XML_BYTES)
    except KeyError:
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, recover=True)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        return None
