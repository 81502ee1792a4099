"""Topic expansion from a MedDRA-format release. The fixture is a tiny FABRICATED release in
MedDRA's ASCII layout (invented codes and names, no MedDRA content): the real files are
licensed and never shipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cgtvigil.errors import ParseError, TerminologyNotConfiguredError, ValidationError
from cgtvigil.store import expand_topics, load_topics


def _release(folder: Path) -> Path:
    folder.mkdir()
    files = {
        "pt.asc": "1$Invented PT one$$9$\n2$Invented PT two$$9$\n3$Invented PT three$$9$\n",
        "hlt.asc": "10$Invented HLT A$\n11$Invented HLT B$\n",
        "hlt_pt.asc": "10$1$\n10$2$\n11$3$\n",
        "hlgt.asc": "20$Invented HLGT$\n",
        "hlgt_hlt.asc": "20$10$\n20$11$\n",
        "soc.asc": "30$Invented SOC$INV$\n",
        "soc_hlgt.asc": "30$20$\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def _topics(tmp_path: Path, groups: list[str]) -> Path:
    path = tmp_path / "mine.json"
    path.write_text(
        json.dumps(
            {
                "version": "mine-1",
                "topics": [{"id": "mine", "name": "My topic", "preferred_terms": ["Pyrexia"], "meddra_groups": groups}],
            }
        )
    )
    return path


def test_groups_expand_to_their_preferred_terms(tmp_path: Path) -> None:
    release = _release(tmp_path / "meddra")
    topics = load_topics(extra=[_topics(tmp_path, ["invented hlt a"])])
    expanded = expand_topics(topics, release)
    mine = next(t for t in expanded.topics if t.id == "mine")
    assert mine.preferred_terms == ("Pyrexia", "Invented PT one", "Invented PT two")
    assert expanded.version.endswith("+meddra:meddra")
    soc = expand_topics(load_topics(extra=[_topics(tmp_path, ["Invented SOC"])]), release)
    assert len(next(t for t in soc.topics if t.id == "mine").preferred_terms) == 4


def test_clear_errors(tmp_path: Path) -> None:
    topics = load_topics(extra=[_topics(tmp_path, ["Invented HLT A"])])
    with pytest.raises(TerminologyNotConfiguredError, match=r"TERMINOLOGY_NOT_CONFIGURED\(MedDRA\)"):
        expand_topics(topics, None)
    release = _release(tmp_path / "meddra")
    with pytest.raises(ValidationError, match="'Nope' is not an HLT, HLGT or SOC name"):
        expand_topics(load_topics(extra=[_topics(tmp_path, ["Nope"])]), release)
    (release / "hlt_pt.asc").unlink()
    with pytest.raises(ParseError, match=r"hlt_pt\.asc: not found in the MedDRA folder"):
        expand_topics(topics, release)
    assert expand_topics(load_topics(), None) == load_topics()  # nothing to expand: no MedDRA needed
