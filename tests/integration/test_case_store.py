"""CaseStore.add works out each version's kind and status incrementally (once per case and
batch): the result must not depend on how the versions are split into batches or ordered."""

from __future__ import annotations

import itertools
from pathlib import Path

from cgtvigil.ingest import read_e2b
from cgtvigil.model import Code
from cgtvigil.store import CaseStore, StoredReport


def _reports(shared: Path) -> list[StoredReport]:
    out = []
    files = sorted((shared / "e2b_r3/instances").glob("FAERS2022Scenario5-*.xml"))  # initial and follow-ups
    for n, f in enumerate(files):
        for r in read_e2b(f).loaded:
            # the three examples share C.1.5 and C.1.2 (arrival order would decide): give each its own C.1.5
            case = r.case.model_copy(update={"most_recent": f"2022061{n}101010-0500"})
            out.append(StoredReport(case, "e2b", r.file, r.sha256, r.xpath, r.importer))
    first = out[0].case
    nullified = first.model_copy(update={"nullification": Code(code="1"), "most_recent": "29990101"})
    out.append(StoredReport(nullified, "e2b", "n.xml", "n" * 64, "/n", "test"))
    return out


def _state(store: CaseStore) -> list[tuple[str, str, str, str]]:
    rows = store.con.execute("SELECT case_id, sha256, kind, status FROM icsr_version ORDER BY 1, 2").fetchall()
    return [tuple(str(x) for x in r) for r in rows]  # type: ignore[misc]


def test_batches_and_order_do_not_change_kind_and_status(shared: Path, tmp_path: Path) -> None:
    reports = _reports(shared)
    assert len({r.case.case_id for r in reports}) < len(reports)  # versions of one case
    with CaseStore(tmp_path / "one.duckdb") as store:
        assert store.add(reports, []) == len(reports)
        expected = _state(store)
        assert store.add(reports, []) == 0  # re-adding is a no-op
        assert _state(store) == expected
    assert {s for *_, s in expected} == {"nullified"}
    assert sorted(k for _, _, k, _ in expected) == ["follow-up", "follow-up", "initial", "nullification"]
    for n, order in enumerate(itertools.islice(itertools.permutations(reports[:-1]), 6)):
        with CaseStore(tmp_path / f"split{n}.duckdb") as store:
            for r in order:
                store.add([r], [])
            without_nullification = _state(store)
            assert {s for *_, s in without_nullification} == {"current", "superseded"}
            store.add([reports[-1]], [])
            assert _state(store) == expected
