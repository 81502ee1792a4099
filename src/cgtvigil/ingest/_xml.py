"""Hostile-input-safe XML parsing (formats.md C9): no DTD, no entities, no network, bounded size and depth."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from cgtvigil.errors import ParseError

__all__ = ["SafeIterParse", "XmlLimits", "load_xsd", "parse_xml"]


@dataclass(frozen=True)
class XmlLimits:
    """Bounds on one XML document: bytes, element nesting depth and element count."""

    max_bytes: int = 512 * 1024 * 1024
    max_depth: int = 80
    max_elements: int = 20_000_000


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


_DTD = "a <!DOCTYPE> declaration is not accepted (DTDs and entities are refused; remove it)"


def _refuse(file: str, code: str, what: str, line: int | None = None) -> ParseError:
    return ParseError(f"{code}: {what}", file=file, line=line)


def parse_xml(data: bytes, *, file: str, limits: XmlLimits | None = None) -> etree._ElementTree:
    """Parse ``data`` or raise one :class:`~cgtvigil.errors.ParseError` naming the file and line.

    Refused: a ``<!DOCTYPE>`` (so DTDs, external entities and entity expansion bombs),
    any entity reference, more than ``max_bytes``, elements nested deeper than ``max_depth`` or
    more than ``max_elements`` elements. Comments and processing instructions are dropped.

    Examples
    --------
    >>> parse_xml(b"<a><b/></a>", file="x.xml").getroot().tag
    'a'
    >>> parse_xml(b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', file="x.xml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cgtvigil.errors.ParseError: x.xml: XML_DTD_REFUSED: a <!DOCTYPE> declaration is not accepted ...
    """
    limits = limits or XmlLimits()
    _refuse_doctype(data, file, limits)
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else None
        raise _refuse(file, "XML_MALFORMED", f"not well-formed XML: {exc.msg}", line) from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _refuse(file, "XML_DTD_REFUSED", _DTD)
    root = tree.getroot()
    if _deeper_than(limits.max_depth)(root):
        raise _refuse(file, "XML_TOO_DEEP", f"elements nested deeper than {limits.max_depth}")
    if int(_COUNT(root)) > limits.max_elements:
        raise _refuse(file, "XML_TOO_MANY_ELEMENTS", f"more than {limits.max_elements:,} elements")
    return tree


@lru_cache(maxsize=16)
def _deeper_than(levels: int) -> etree.XPath:
    """True when an element has a descendant ``levels`` or more levels below it (evaluated in C)."""
    return etree.XPath("boolean(" + "/".join(["*"] * max(levels, 1)) + ")")


_COUNT = etree.XPath("count(descendant-or-self::*)")


class SafeIterParse:
    """Stream the elements named ``tag`` of a document, each complete, then cleared after use,
    so memory stays at one element (plus the cleared husks that keep XPath positions).

    The same refusals as :func:`parse_xml` (DOCTYPE, entities, size, depth, element count);
    the depth and count checks run per element in libxml2's XPath engine. ``root`` is the
    document element once iteration has started; its other children stay in memory.
    """

    def __init__(self, data: bytes, *, file: str, tag: str, limits: XmlLimits | None = None) -> None:
        self.data = data
        self.file = file
        self.tag = tag
        self.limits = limits or XmlLimits()
        self.root: etree._Element | None = None
        self._count = 0

    def __iter__(self) -> Iterator[etree._Element]:
        lim = self.limits
        _refuse_doctype(self.data, self.file, lim)
        context = etree.iterparse(
            io.BytesIO(self.data),
            events=("end",),
            tag=self.tag,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        try:
            for _, el in context:
                self.root = context.root
                depth = sum(1 for _ in el.iterancestors()) + 1
                self._check(el, depth)
                yield el
                el.clear(keep_tail=False)
            self.root = context.root
        except etree.XMLSyntaxError as exc:
            line = exc.position[0] if exc.position else None
            raise _refuse(self.file, "XML_MALFORMED", f"not well-formed XML: {exc.msg}", line) from None
        if self.root is not None:
            info = self.root.getroottree().docinfo
            if info.doctype or info.internalDTD is not None:  # an encoding the byte scan cannot see
                raise _refuse(self.file, "XML_DTD_REFUSED", _DTD)
            self._check(self.root, 1)

    def _check(self, el: etree._Element, depth: int) -> None:
        lim = self.limits
        if _deeper_than(lim.max_depth - depth + 1)(el):
            raise _refuse(self.file, "XML_TOO_DEEP", f"elements nested deeper than {lim.max_depth}", el.sourceline)
        self._count += int(_COUNT(el))
        if self._count > lim.max_elements:
            raise _refuse(self.file, "XML_TOO_MANY_ELEMENTS", f"more than {lim.max_elements:,} elements")


def _refuse_doctype(data: bytes, file: str, limits: XmlLimits) -> None:
    if len(data) > limits.max_bytes:
        raise _refuse(file, "XML_TOO_LARGE", f"{len(data):,} bytes is over the limit of {limits.max_bytes:,}")
    # anywhere (a DOCTYPE may follow a long comment); a CDATA section holding the text is refused too
    if b"<!DOCTYPE" in data or b"<\x00!\x00D\x00O\x00C\x00T\x00Y\x00P\x00E" in data:
        raise _refuse(file, "XML_DTD_REFUSED", _DTD)


@lru_cache(maxsize=8)
def load_xsd(path: str) -> etree.XMLSchema:
    """An XML schema from a local file, its includes resolved locally (never over the network)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(path, parser))
