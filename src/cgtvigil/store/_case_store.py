"""Case versions in the analytic store: every received ICSR version with its provenance and its
place in the case's history (follow-up replaces, nullification marks, amendments kept), and the
quarantined reports with their reason and XPath.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cgtvigil.errors import StoreError
from cgtvigil.model import CaseHistory, IcsrCase

__all__ = ["CaseStore", "StoredReport"]

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
        except (duckdb.Error, OSError) as exc:
            raise StoreError(f"{self.path}: the store cannot be opened: {str(exc).strip().splitlines()[0]}") from exc

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.con.close()

    def history(self, case_id: str) -> CaseHistory:
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
        (same file hash and XPath) is skipped (C8). Returns the number of new versions."""
        new = 0
        try:
            self.con.execute("BEGIN TRANSACTION")
            for r in reports:
                if self.con.execute(
                    "SELECT 1 FROM icsr_version WHERE sha256 = ? AND xpath = ?", [r.sha256, r.xpath]
                ).fetchone():
                    continue
                self.con.execute(
                    "INSERT INTO icsr_version (case_id, safety_report_id, most_recent, kind, status, source, file, "
                    "sha256, xpath, importer, case_json) VALUES (?, ?, ?, '', '', ?, ?, ?, ?, ?, ?)",
                    [
                        r.case.case_id,
                        r.case.safety_report_id,
                        r.case.most_recent if isinstance(r.case.most_recent, str) else None,
                        r.source,
                        r.file,
                        r.sha256,
                        r.xpath,
                        r.importer,
                        r.case.model_dump_json(),
                    ],
                )
                new += 1
                self._restatus(r.case.case_id)
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
        return new

    def _restatus(self, case_id: str) -> None:
        h = self.history(case_id)
        for v in h.versions:
            self.con.execute(
                "UPDATE icsr_version SET kind = ?, status = ? WHERE case_id = ? AND case_json = ?",
                [v.kind, v.status, case_id, v.case.model_dump_json()],
            )

    def current_cases(self, case_ids: Sequence[str] | None = None) -> list[IcsrCase]:
        """The version in force of each case (nullified cases excluded), ordered by case id."""
        rows = self.con.execute(
            "SELECT case_json FROM icsr_version WHERE status = 'current' ORDER BY case_id, most_recent"
        ).fetchall()
        cases = [IcsrCase.model_validate_json(js) for (js,) in rows]
        return [c for c in cases if case_ids is None or c.case_id in case_ids]

    def counts(self) -> dict[str, int]:
        rows = self.con.execute("SELECT status, count(*) FROM icsr_version GROUP BY status").fetchall()
        out = {str(s): int(n) for s, n in rows}
        q = self.con.execute("SELECT count(*) FROM icsr_quarantine").fetchone()
        out["quarantined"] = int(q[0]) if q else 0
        return out
