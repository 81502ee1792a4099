"""Collision handling on the real Clarke 2018 SCID-X1 integration sites (24,170 rows, 13
patients): 107 IS are found in more than one patient. With ``--collisions resolve`` each is
assigned by ISAnalytics' documented rule or removed, and every row taken out is quarantined
with its reason. The shared reference files were made without collision removal (their
README), so the figures here are this rule's own on the real file, checked by recounting:
53 IS decided by replicates, 31 by the reads ratio (> 10), 23 removed, 170 rows quarantined;
the CCND2 clone of pP7 is no collision and stays."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cgtvigil.cli import app
from cgtvigil.genotox import read_long_sites, resolve_batch_collisions


def test_clarke_collisions_resolved_and_quarantined(shared: Path) -> None:
    batch = read_long_sites(shared / "genotoxicity" / "clarke2018_scidx1_intsites.csv", genome="hg38")
    patients: dict[tuple[str, int, str], set[str]] = {}
    for r in batch.records:
        patients.setdefault((r.chr, r.position, r.strand), set()).add(r.patient)
    colliding = {k for k, v in patients.items() if len(v) > 1}
    assert len(colliding) == 107
    resolved, counts = resolve_batch_collisions(batch)
    assert counts == {
        "collisions": 107,
        "date": 0,
        "replicates": 53,
        "reads_ratio": 31,
        "removed": 23,
        "rows_quarantined": 170,
    }
    assert len(resolved.records) + 170 == len(batch.records)  # nothing lost: loaded or quarantined
    after: dict[tuple[str, int, str], set[str]] = {}
    for r in resolved.records:
        after.setdefault((r.chr, r.position, r.strand), set()).add(r.patient)
    assert all(len(v) == 1 for v in after.values())  # no collision left
    assert sum(k in colliding for k in after) == 107 - 23  # the removed ones are gone from every patient
    reasons = Counter(q.reason for q in resolved.quarantined[len(batch.quarantined) :])
    assert sum(reasons.values()) == 170 and set(reasons) == {"IS_COLLISION_REASSIGNED", "IS_COLLISION_REMOVED"}
    ccnd2 = [r for r in resolved.records if (r.chr, r.position, r.strand) == ("chr12", 4271331, "-")]
    assert ccnd2 and {r.patient for r in ccnd2} == {"pP7"}


def test_cli_ingest_resolves_collisions_on_request(
    shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", f"sqlite:///{tmp_path / 'op.db'}")
    path = shared / "genotoxicity" / "clarke2018_scidx1_intsites.csv"
    r = CliRunner().invoke(app, ["genotox", "ingest", str(path), "--genome", "hg38", "--collisions", "resolve"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "24,000 loaded" in text and "170 quarantined" in text and "53 assigned by replicates" in text
    assert "23 removed" in text and "also stored for another patient" not in text  # none left in the store
    bad = CliRunner().invoke(app, ["genotox", "ingest", str(path), "--genome", "hg38", "--collisions", "maybe"])
    assert bad.exit_code == 2 and "must be count or resolve" in bad.output and "Traceback" not in bad.output
