"""Topic expansion from the user's own licensed MedDRA release (never shipped; formats.md §7).

Reads the '$'-delimited ASCII distribution files of a MedDRA release folder: ``pt.asc``,
``hlt.asc``, ``hlt_pt.asc``, ``hlgt.asc``, ``hlgt_hlt.asc``, ``soc.asc``, ``soc_hlgt.asc``
(first two fields of each: code and name, or parent code and child code), and adds to each
topic the preferred terms under the HLT, HLGT or SOC names it lists in ``meddra_groups``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from cgtvigil.errors import ParseError, TerminologyNotConfiguredError, ValidationError
from cgtvigil.model import SafetyTopic, TopicSet

__all__ = ["expand_topics", "load_meddra_groups"]

_FILES = ("pt", "hlt", "hlt_pt", "hlgt", "hlgt_hlt", "soc", "soc_hlgt")


def _pairs(folder: Path, name: str) -> list[tuple[str, str]]:
    path = next((p for p in folder.iterdir() if p.name.lower() == f"{name}.asc"), None)
    if path is None:
        raise ParseError(
            f"not found in the MedDRA folder; expected the files {', '.join(f + '.asc' for f in _FILES)}",
            file=str(folder / f"{name}.asc"),
        )
    out = []
    for i, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        fields = line.split("$")
        if len(fields) < 2 or not fields[0].strip():
            raise ParseError("expected at least two '$'-separated fields", file=str(path), line=i)
        out.append((fields[0].strip(), fields[1].strip()))
    return out


def load_meddra_groups(folder: Path) -> dict[str, set[str]]:
    """Upper-case HLT, HLGT and SOC name -> the set of PT names below it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ParseError("not a folder; expected a MedDRA ASCII release folder", file=str(folder))
    names = {kind: dict(_pairs(folder, kind)) for kind in ("pt", "hlt", "hlgt", "soc")}
    hlt_pts: dict[str, set[str]] = defaultdict(set)
    for hlt, pt in _pairs(folder, "hlt_pt"):
        if pt in names["pt"]:
            hlt_pts[hlt].add(names["pt"][pt])
    hlgt_pts: dict[str, set[str]] = defaultdict(set)
    for hlgt, hlt in _pairs(folder, "hlgt_hlt"):
        hlgt_pts[hlgt] |= hlt_pts.get(hlt, set())
    soc_pts: dict[str, set[str]] = defaultdict(set)
    for soc, hlgt in _pairs(folder, "soc_hlgt"):
        soc_pts[soc] |= hlgt_pts.get(hlgt, set())
    groups: dict[str, set[str]] = {}
    for kind, members in (("hlt", hlt_pts), ("hlgt", hlgt_pts), ("soc", soc_pts)):
        for code, pts in members.items():
            groups.setdefault(names[kind].get(code, code).upper(), set()).update(pts)
    return groups


def expand_topics(topics: TopicSet, meddra: Path | None) -> TopicSet:
    """Add the PTs under each topic's ``meddra_groups``; a clear error when a topic asks
    for expansion and no MedDRA release is configured, or names an unknown group."""
    wanted = [t for t in topics.topics if t.meddra_groups]
    if not wanted:
        return topics
    if meddra is None:
        raise TerminologyNotConfiguredError("MedDRA")
    groups = load_meddra_groups(meddra)
    problems = [
        f"topic '{t.id}': MedDRA group '{g}' is not an HLT, HLGT or SOC name of the release in {meddra}"
        for t in wanted
        for g in t.meddra_groups
        if g.upper() not in groups
    ]
    if problems:
        raise ValidationError(problems)
    expanded = []
    for t in topics.topics:
        extra = sorted(set().union(*(groups[g.upper()] for g in t.meddra_groups))) if t.meddra_groups else []
        pts = tuple(dict.fromkeys([*t.preferred_terms, *extra]))
        expanded.append(SafetyTopic(**{**t.model_dump(), "preferred_terms": pts}))
    return TopicSet(
        version=f"{topics.version}+meddra:{Path(meddra).name}", notice=topics.notice, topics=tuple(expanded)
    )
