"""Case versions in the analytic store: every received ICSR version with its provenance and its
place in the case's history (follow-up replaces, nullification marks, amendments kept), and the
quarantined reports with their reason and XPath.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from cgtvigil.errors import StoreError
from cgtvigil.model import CaseHistory, IcsrCase

__all__ = ["CaseStore", "StoredReport"]

_INSERTED = (
    "case_id",
    "safety_report_id",
    "most_recent",
    "source",
    "file",
    "sha256",
    "xpath",
    "importer",
    "case_json",
    "kind",
    "status",
)
_COLUMNS = ", ".join(_INSERTED)

_DDL = """
CREATE TABLE IF NOT EXISTS icsr_version (
    case_id VARCHAR, safety_report_id VARCHAR, most_recent VARCHAR, kind VARCHAR, status VARCHAR,
    source VARCHAR, file VARCHAR, sha256 VARCHAR, xpath VARCHAR, importer VARCHAR, case_json VARCHAR,
    loaded_at TIMESTAMP DEFAULT current_timestamp, PRIMARY KEY (sha256, xpath));
CREATE TABLE IF NOT EXISTS icsr_quarantine (
    source VARCHAR, file VARCHAR, sha256 VARCHAR, xpath VARCHAR, reason VARCHAR, detail VARCHAR,
    safety_report_id VARCHAR, raw VARCHAR, loaded_at TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (sha256, xpath));
"""


@dataclass(frozen=True)
class StoredReport:
    """A report to store: the case and where it came from (C7)."""

    case: IcsrCase
    source: str
    file: str
    sha256: str
    xpath: str
    importer: str


class CaseStore:
    """The ICSR version tables of one DuckDB file (the same file as the FAERS tables may be used)."""

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = Path(path)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
            if not read_only:
                self.con.execute(_DDL)
            # a store without case tables yet (e.g. FAERS only) reads as holding no case
            self.empty = not self.con.execute(
                "SELECT 1 FROM duckdb_tables() WHERE table_name = 'icsr_version'"
            ).fetchone()
        except (duckdb.Error, OSError) as exc:
            raise StoreError(f"{self.path}: the store cannot be opened: {str(exc).strip().splitlines()[0]}") from exc

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.con.close()

    def history(self, case_id: str) -> CaseHistory:
        if self.empty:
            return CaseHistory(case_id=case_id)
        rows = self.con.execute("SELECT case_json FROM icsr_version WHERE case_id = ?", [case_id]).fetchall()
        h = CaseHistory(case_id=case_id)
        for (js,) in rows:
            h = h.add(IcsrCase.model_validate_json(js))
        return h

    def add(
        self,
        reports: Sequence[StoredReport],
        quarantined: Sequence[tuple[str, str, str, str, str, str, str | None, str]],
    ) -> int:
        """Store reports and quarantined reports in one transaction; a report already stored
        (same file hash and XPath) is skipped (C8). Returns the number of new versions.

        The kind and status of each version are worked out once per case and batch, from the
        case's stored versions (read once) and the batch's new ones; only rows whose kind or
        status changes are updated."""
        try:
            self.con.execute("BEGIN TRANSACTION")
            stored = self._stored_keys({r.sha256 for r in reports})
            rows: list[list[object]] = []
            keys: list[tuple[str, str]] = []
            touched: dict[str, list[tuple[IcsrCase, tuple[str, str]]]] = {}
            for r in reports:
                key = (r.sha256, r.xpath)
                if key in stored:
                    continue
                stored.add(key)
                cid = r.case.case_id
                rows.append(
                    [
                        cid,
                        r.case.safety_report_id,
                        r.case.most_recent if isinstance(r.case.most_recent, str) else None,
                        r.source,
                        r.file,
                        r.sha256,
                        r.xpath,
                        r.importer,
                        r.case.model_dump_json(),
                    ]
                )
                keys.append(key)
                touched.setdefault(cid, []).append((r.case, key))
            if rows:
                status = self._restatus(touched)
                cols = list(zip(*rows, strict=True))
                table = pa.table(
                    {
                        name: pa.array(values, pa.string())
                        for name, values in zip(
                            _INSERTED, [*cols, *zip(*(status[k] for k in keys), strict=True)], strict=True
                        )
                    }
                )
                self.con.register("_new_versions", table)
                try:
                    self.con.execute(f"INSERT INTO icsr_version ({_COLUMNS}) SELECT {_COLUMNS} FROM _new_versions")
                finally:
                    self.con.unregister("_new_versions")
            for q in quarantined:
                self.con.execute(
                    "INSERT OR IGNORE INTO icsr_quarantine (source, file, sha256, xpath, reason, detail, "
                    "safety_report_id, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    list(q),
                )
            self.con.execute("COMMIT")
        except duckdb.Error as exc:
            self.con.execute("ROLLBACK")
            raise StoreError(f"{self.path}: the reports were not stored: {str(exc).strip().splitlines()[0]}") from exc
        return len(rows)

    def _stored_keys(self, shas: set[str]) -> set[tuple[str, str]]:
        if not shas:
            return set()
        found = self.con.execute(
            "SELECT sha256, xpath FROM icsr_version WHERE sha256 IN (SELECT unnest(?))", [sorted(shas)]
        ).fetchall()
        return {(str(a), str(b)) for a, b in found}

    def _restatus(
        self, touched: dict[str, list[tuple[IcsrCase, tuple[str, str]]]]
    ) -> dict[tuple[str, str], tuple[str, str]]:
        """Kind and status of every version of the touched cases: one read of the earlier
        versions of all of them, one history per case; earlier rows whose kind or status changes
        are updated here, those of the new rows returned (by file hash and XPath) for the insert."""
        earlier: dict[str, list[tuple[IcsrCase, tuple[str, str], str, str]]] = {}
        for cid, js, sha, xp, kind, status in self.con.execute(
            "SELECT case_id, case_json, sha256, xpath, kind, status FROM icsr_version "
            "WHERE case_id IN (SELECT unnest(?)) ORDER BY rowid",  # arrival order breaks C.1.5 ties
            [sorted(touched)],
        ).fetchall():
            earlier.setdefault(cid, []).append((IcsrCase.model_validate_json(js), (sha, xp), kind, status))
        new: dict[tuple[str, str], tuple[str, str]] = {}
        updates: list[tuple[str, str, str, str]] = []
        for cid, items in touched.items():
            old = earlier.get(cid, [])
            h = CaseHistory(case_id=cid)
            for c, *_ in old:
                h = h.add(c)
            for c, _ in items:
                h = h.add(c)
            by_case = {v.case: v for v in h.versions}  # identical versions share kind and status
            for c, key, kind, status in old:
                v = by_case[c]
                if (v.kind, v.status) != (kind, status):
                    updates.append((v.kind, v.status, *key))
            for c, key in items:
                new[key] = (by_case[c].kind, by_case[c].status)
        if updates:
            table = pa.table(
                {
                    n: pa.array(v, pa.string())
                    for n, v in zip(("kind", "status", "sha256", "xpath"), zip(*updates, strict=True), strict=True)
                }
            )
            self.con.register("_restatus", table)
            try:
                self.con.execute(
                    "UPDATE icsr_version SET kind = u.kind, status = u.status FROM _restatus u "
                    "WHERE icsr_version.sha256 = u.sha256 AND icsr_version.xpath = u.xpath"
                )
            finally:
                self.con.unregister("_restatus")
        return new

    def current_cases(self, case_ids: Sequence[str] | None = None) -> list[IcsrCase]:
        """The version in force of each case (nullified cases excluded), ordered by case id."""
        if self.empty:
            return []
        rows = self.con.execute(
            "SELECT case_json FROM icsr_version WHERE status = 'current' ORDER BY case_id, most_recent"
        ).fetchall()
        cases = [IcsrCase.model_validate_json(js) for (js,) in rows]
        return [c for c in cases if case_ids is None or c.case_id in case_ids]

    def current_with_source(self) -> list[tuple[str, IcsrCase]]:
        """(source, current version) of every case that is not nullified, ordered by case id."""
        if self.empty:
            return []
        rows = self.con.execute(
            "SELECT source, case_json FROM icsr_version WHERE status = 'current' ORDER BY case_id, most_recent"
        ).fetchall()
        return [(str(src), IcsrCase.model_validate_json(js)) for src, js in rows]

    def histories(self) -> dict[str, CaseHistory]:
        """Every case's history (all versions), read in one query."""
        if self.empty:
            return {}
        out: dict[str, CaseHistory] = {}
        for cid, js in self.con.execute("SELECT case_id, case_json FROM icsr_version ORDER BY rowid").fetchall():
            out[cid] = out.get(cid, CaseHistory(case_id=cid)).add(IcsrCase.model_validate_json(js))
        return out

    def versions(self, case_id: str) -> list[dict[str, object]]:
        """Every stored version of a case with its provenance, in arrival order."""
        if self.empty:
            return []
        cur = self.con.execute(
            "SELECT safety_report_id, most_recent, kind, status, source, file, sha256, xpath, importer, loaded_at "
            "FROM icsr_version WHERE case_id = ? ORDER BY rowid",
            [case_id],
        )
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def faers_cases(self) -> list[tuple[str, float | None, str, str | None, str | None, str, str]]:
        """(caseid, age in years, sex M/F/UNK, event date, country, suspect drug names joined by
        '|', PT names joined by '|') of the FAERS case view in the same file; empty without one."""
        if not self.con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'report'").fetchone():
            return []
        return self.con.execute(
            """SELECT r.caseid, r.age_years, r.sex, nullif(trim(r.event_dt), ''), nullif(trim(r.occr_country), ''),
                  coalesce((SELECT string_agg(DISTINCT upper(trim(g.drugname)), '|') FROM drug g
                     WHERE g.primaryid = r.primaryid AND g.quarter = r.quarter AND g.role_cod IN ('PS', 'SS')), ''),
                  coalesce((SELECT string_agg(DISTINCT upper(trim(x.pt)), '|') FROM reac x
                     WHERE x.primaryid = r.primaryid AND x.quarter = r.quarter), '')
               FROM report r WHERE NOT r.deleted"""
        ).fetchall()

    def counts(self) -> dict[str, int]:
        rows = self.con.execute("SELECT status, count(*) FROM icsr_version GROUP BY status").fetchall()
        out = {str(s): int(n) for s, n in rows}
        q = self.con.execute("SELECT count(*) FROM icsr_quarantine").fetchone()
        out["quarantined"] = int(q[0]) if q else 0
        return out
