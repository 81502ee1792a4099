"""Case versions in the analytic store: every received ICSR version with its provenance and its
place in the case's history (follow-up replaces, nullification marks, amendments kept), and the
quarantined reports with their reason and XPath.

Each current version also carries its case's index columns (``ix_*``): the suspect products,
first event, seriousness, the assessment and the reporting clock's basis, worked out at add
time by a :class:`CaseIndexer` (the case area's, over the reference data) and stamped with the
indexer's key. They let the case list filter by scope, order and paginate in SQL
(:meth:`CaseStore.case_page`). Schema migration: opening a store for writing adds the columns
to a store made before them, and a store opened with an indexer backfills (re-indexes) every
current version whose key is missing or differs (:meth:`CaseStore.reindex`); a reader given
the rows a stale index would show (:meth:`CaseStore.use_index`) never reads a stale one.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa

from cgtvigil.errors import StoreError
from cgtvigil.model import CaseHistory, IcsrCase

__all__ = ["CaseIndexRow", "CaseIndexer", "CaseStore", "StoredReport"]

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

# the index columns of a current version (added to stores made before them: the migration)
_INDEX_COLUMNS = (
    ("ix_key", "VARCHAR"),
    ("ix_products", "VARCHAR[]"),
    ("ix_first_event", "VARCHAR"),
    ("ix_serious", "BOOLEAN"),
    ("ix_unexpected_serious", "BOOLEAN"),
    ("ix_assessment", "VARCHAR"),
    ("ix_clock", "VARCHAR"),
    ("ix_clock_kind", "VARCHAR"),
    ("ix_due", "DATE"),
)
_MIGRATE = "".join(f"ALTER TABLE icsr_version ADD COLUMN IF NOT EXISTS {n} {t};\n" for n, t in _INDEX_COLUMNS)
_OVERLAY_SCHEMA = pa.schema(
    [
        ("case_id", pa.string()),
        ("ix_key", pa.string()),
        ("ix_products", pa.list_(pa.string())),
        ("ix_first_event", pa.string()),
        ("ix_serious", pa.bool_()),
        ("ix_unexpected_serious", pa.bool_()),
        ("ix_assessment", pa.string()),
        ("ix_clock", pa.string()),
        ("ix_clock_kind", pa.string()),
        ("ix_due", pa.date32()),
    ]
)
_CLOCK_NOW_SCHEMA = pa.schema([("case_id", pa.string()), ("status", pa.string()), ("due", pa.date32())])
CLOCK_ORDER = ("overdue", "due", "incomplete", "submitted", "not expedited", "nullified")


@dataclass(frozen=True)
class CaseIndexRow:
    """What the case list needs of a case, worked out once from its history and the reference
    data: the suspect products (scope), the first event, seriousness, the assessment (JSON) and
    the reporting clock's basis (JSON, its kind and first due date: status and order in SQL)."""

    products: tuple[str, ...]
    first_event: str
    serious: bool
    unexpected_serious: bool
    assessment: str
    clock: str
    clock_kind: str
    due: date | None

    def values(self) -> list[object]:
        return [
            list(self.products),
            self.first_event,
            self.serious,
            self.unexpected_serious,
            self.assessment,
            self.clock,
            self.clock_kind,
            self.due,
        ]


class CaseIndexer(Protocol):
    """Works out a case's index row; ``key`` names the reference data and rules it uses."""

    @property
    def key(self) -> str: ...

    def __call__(self, history: CaseHistory) -> CaseIndexRow: ...


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

    def __init__(self, path: Path | str, *, read_only: bool = False, index: CaseIndexer | None = None) -> None:
        self.path = Path(path)
        self.index = index
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
            if not read_only:
                self.con.execute(_DDL + _MIGRATE)
            # a store without case tables yet (e.g. FAERS only) reads as holding no case
            self.empty = not self.con.execute(
                "SELECT 1 FROM duckdb_tables() WHERE table_name = 'icsr_version'"
            ).fetchone()
            # a store made before the index columns, opened read-only: every case reads as stale
            self.indexed = not self.empty and bool(
                self.con.execute(
                    "SELECT 1 FROM duckdb_columns() WHERE table_name = 'icsr_version' AND column_name = 'ix_key'"
                ).fetchone()
            )
        except (duckdb.Error, OSError) as exc:
            raise StoreError(f"{self.path}: the store cannot be opened: {str(exc).strip().splitlines()[0]}") from exc
        self._overlay = False
        self._clock_now = False
        if index is not None and not read_only:
            self.reindex()

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
                if self.index is not None:
                    self._write_index(self._indexed, self.index.key)
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
        self._indexed: dict[str, CaseIndexRow] = {}
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
            if self.index is not None:
                self._indexed[cid] = self.index(h)
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

    def histories_of(self, case_ids: Collection[str]) -> dict[str, CaseHistory]:
        """The histories (all versions) of these cases, read in one query."""
        if self.empty or not case_ids:
            return {}
        out: dict[str, CaseHistory] = {}
        for cid, js in self.con.execute(
            "SELECT case_id, case_json FROM icsr_version WHERE case_id IN (SELECT unnest($ids)) ORDER BY rowid",
            {"ids": sorted(case_ids)},
        ).fetchall():
            out[cid] = out.get(cid, CaseHistory(case_id=cid)).add(IcsrCase.model_validate_json(js))
        return out

    # --- the index columns: written at add time, backfilled by reindex, read by case_page ---

    def stale_cases(self, key: str) -> list[str]:
        """The cases whose current version's index is missing or was made under another key."""
        if self.empty:
            return []
        if not self.indexed:
            sql = "SELECT DISTINCT case_id FROM icsr_version WHERE status = 'current'"
            return sorted(str(c) for (c,) in self.con.execute(sql).fetchall())
        rows = self.con.execute(
            "SELECT DISTINCT case_id FROM icsr_version WHERE status = 'current' AND ix_key IS DISTINCT FROM $key",
            {"key": key},
        ).fetchall()
        return sorted(str(c) for (c,) in rows)

    def _index_table(self, rows: dict[str, CaseIndexRow], key: str) -> pa.Table:
        columns: list[list[object]] = [[] for _ in _OVERLAY_SCHEMA]
        for cid, row in rows.items():
            for col, value in zip(columns, [cid, key, *row.values()], strict=True):
                col.append(value)
        return pa.table(
            {f.name: pa.array(c, f.type) for f, c in zip(_OVERLAY_SCHEMA, columns, strict=True)},
            schema=_OVERLAY_SCHEMA,
        )

    def _write_index(self, rows: dict[str, CaseIndexRow], key: str) -> None:
        if not rows:
            return
        self.con.register("_ix_new", self._index_table(rows, key))
        try:
            sets = ", ".join(f"{n} = u.{n}" for n, _ in _INDEX_COLUMNS)
            self.con.execute(
                f"UPDATE icsr_version SET {sets} FROM _ix_new u "
                "WHERE icsr_version.case_id = u.case_id AND icsr_version.status = 'current'"
            )
        finally:
            self.con.unregister("_ix_new")

    def reindex(self, batch: int = 5000) -> int:
        """Backfill the index of every case whose index is missing or stale (the migration of a
        store made before the index columns, or after the reference data changed). Returns the
        number of cases re-indexed."""
        if self.index is None:
            raise StoreError(f"{self.path}: the store was opened without an indexer; nothing to re-index with")
        stale = self.stale_cases(self.index.key)
        for start in range(0, len(stale), batch):
            chunk = stale[start : start + batch]
            rows = {cid: self.index(h) for cid, h in self.histories_of(chunk).items()}
            try:
                self.con.execute("BEGIN TRANSACTION")
                self._write_index(rows, self.index.key)
                self.con.execute("COMMIT")
            except duckdb.Error as exc:
                self.con.execute("ROLLBACK")
                raise StoreError(
                    f"{self.path}: the case index was not written: {str(exc).strip().splitlines()[0]}"
                ) from exc
        return len(stale)

    def use_index(self, rows: dict[str, CaseIndexRow], key: str) -> None:
        """Read these index rows instead of the stored ones of their cases (this connection
        only; a read-only store's stale cases, worked out by the reader)."""
        self.con.register("_ix_overlay", self._index_table(rows, key))
        self._overlay = True

    def use_clock_now(self, rows: Sequence[tuple[str, str, date | None]]) -> None:
        """The clock status and due date of these cases today, worked out by the reader (the
        cases with submissions); the others' status comes from their stored clock basis."""
        table = pa.table(
            {f.name: pa.array([r[i] for r in rows], f.type) for i, f in enumerate(_CLOCK_NOW_SCHEMA)},
            schema=_CLOCK_NOW_SCHEMA,
        )
        self.con.register("_clock_now", table)
        self._clock_now = True

    def _base(self) -> str:
        """The current versions with their index columns (the overlay's where it has the case)."""
        names = [n for n, _ in _INDEX_COLUMNS if n != "ix_key"]
        types = dict(_INDEX_COLUMNS)
        if self._overlay and self.indexed:
            cols = [f"CASE WHEN o.case_id IS NULL THEN v.{n} ELSE o.{n} END AS {n}" for n in names]
        elif self._overlay:
            cols = [f"o.{n} AS {n}" for n in names]
        elif self.indexed:
            cols = [f"v.{n} AS {n}" for n in names]
        else:
            cols = [f"CAST(NULL AS {types[n]}) AS {n}" for n in names]
        join = " LEFT JOIN _ix_overlay o ON o.case_id = v.case_id" if self._overlay else ""
        return (
            "SELECT v.rowid AS rid, v.case_id, v.safety_report_id, v.source, "
            + ", ".join(cols)
            + f" FROM icsr_version v{join} WHERE v.status = 'current'"
        )

    def _scoped(self, condition: str, case_ids: Collection[str] | None) -> str:
        order = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(CLOCK_ORDER))
        now_join = " LEFT JOIN _clock_now n ON n.case_id = b.case_id" if self._clock_now else ""
        computed = (
            "CASE WHEN b.ix_clock_kind = 'clock' THEN CASE WHEN b.ix_due >= $today THEN 'due' ELSE 'overdue' END "
            "ELSE b.ix_clock_kind END"
        )
        status = f"coalesce(n.status, {computed})" if self._clock_now else computed
        due = "CASE WHEN n.case_id IS NULL THEN b.ix_due ELSE n.due END" if self._clock_now else "b.ix_due"
        only = " AND b.case_id IN (SELECT unnest($ids))" if case_ids is not None else ""
        return (
            f"WITH b AS ({self._base()}), s AS (SELECT b.*, {status} AS status, {due} AS sort_due "
            f"FROM b{now_join} WHERE ({condition}){only} "
            "QUALIFY row_number() OVER (PARTITION BY b.case_id ORDER BY b.rid) = 1) "
            f"SELECT *, CASE status {order} ELSE {len(CLOCK_ORDER)} END AS status_rank FROM s"
        )

    def case_page(
        self,
        condition: str,
        params: dict[str, object],
        *,
        today: date,
        status: str = "",
        limit: int = 100,
        offset: int = 0,
        case_ids: Collection[str] | None = None,
    ) -> tuple[dict[str, int], list[dict[str, object]]]:
        """The current cases that meet ``condition`` (SQL over ``ix_products``, ``source`` and
        ``case_id``, with named ``params``; the store's scope helper builds it), one row per
        case: their count by clock status, and the page of those with ``status`` (all when
        empty) in the list's order (overdue first, then due, incomplete, submitted, not
        expedited; then by due date, then case id), ``limit`` rows from ``offset``."""
        if self.empty:
            return {}, []
        args: dict[str, object] = {**params, "today": today}
        if case_ids is not None:
            args["ids"] = sorted(case_ids)
        scoped = self._scoped(condition, case_ids)
        counts = {
            str(st): int(n)
            for st, n in self.con.execute(f"SELECT status, count(*) FROM ({scoped}) GROUP BY status", args).fetchall()
        }
        filter_ = " WHERE status = $status" if status else ""
        if status:
            args["status"] = status
        cur = self.con.execute(
            f"SELECT case_id, safety_report_id, source, ix_products AS products, ix_first_event AS first_event, "
            f"ix_serious AS serious, ix_unexpected_serious AS unexpected_serious, ix_assessment AS assessment, "
            f"ix_clock AS clock, status FROM ({scoped}){filter_} "
            f"ORDER BY status_rank, sort_due NULLS LAST, case_id LIMIT {int(limit)} OFFSET {int(offset)}",
            args,
        )
        names = [d[0] for d in cur.description or []]
        return counts, [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def case_clocks(self, case_ids: Collection[str]) -> dict[str, str]:
        """The stored (or overlaid) clock basis (JSON) of these cases' current versions."""
        if self.empty or not case_ids:
            return {}
        rows = self.con.execute(
            f"SELECT case_id, ix_clock FROM ({self._base()}) WHERE case_id IN (SELECT unnest($ids))",
            {"ids": sorted(case_ids)},
        ).fetchall()
        return {str(c): str(j) for c, j in rows if j is not None}

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
