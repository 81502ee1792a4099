"""Hostile-input-safe XML parsing (formats.md C9): no DTD, no entities, no network, bounded size and depth."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from cgtvigil.errors import ParseError

__all__ = ["XmlLimits", "parse_xml"]


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
    if len(data) > limits.max_bytes:
        raise _refuse(file, "XML_TOO_LARGE", f"{len(data):,} bytes is over the limit of {limits.max_bytes:,}")
    dtd = "a <!DOCTYPE> declaration is not accepted (DTDs and entities are refused; remove it)"
    # anywhere (a DOCTYPE may follow a long comment); a CDATA section holding the text is refused too
    if b"<!DOCTYPE" in data or b"<\x00!\x00D\x00O\x00C\x00T\x00Y\x00P\x00E" in data:
        raise _refuse(file, "XML_DTD_REFUSED", dtd)
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else None
        raise _refuse(file, "XML_MALFORMED", f"not well-formed XML: {exc.msg}", line) from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _refuse(file, "XML_DTD_REFUSED", dtd)
    root = tree.getroot()
    count = 0
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        count += 1
        if isinstance(el, etree._Entity):
            raise _refuse(file, "XML_ENTITY_REFUSED", f"entity reference {el.text!r} is not accepted", el.sourceline)
        if depth > limits.max_depth:
            raise _refuse(file, "XML_TOO_DEEP", f"elements nested deeper than {limits.max_depth}", el.sourceline)
        if count > limits.max_elements:
            raise _refuse(file, "XML_TOO_MANY_ELEMENTS", f"more than {limits.max_elements:,} elements")
        stack.extend((child, depth + 1) for child in el)
    return tree
