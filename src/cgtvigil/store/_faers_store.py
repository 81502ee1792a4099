"""The analytic store: a DuckDB file holding the normalised FAERS tables with provenance,
the quarantine, the de-duplicated case view and the drug-name map (architecture.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from cgtvigil.model import FAERS_COLUMNS

__all__ = ["FaersStore"]

SCHEMA_VERSION = 1


def _ddl() -> str:
    parts = [
        """CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
        CREATE SEQUENCE IF NOT EXISTS file_seq;
        CREATE TABLE IF NOT EXISTS source_file (
            file_id INTEGER PRIMARY KEY, container VARCHAR, container_sha256 VARCHAR, member VARCHAR,
            table_name VARCHAR, quarter VARCHAR, legacy BOOLEAN, sha256 VARCHAR, read BIGINT,
            loaded BIGINT, quarantined BIGINT, encodings VARCHAR, warnings VARCHAR,
            importer_version VARCHAR, imported_at TIMESTAMP DEFAULT current_timestamp);
        CREATE TABLE IF NOT EXISTS quarantine (
            file_id INTEGER, line BIGINT, n_lines INTEGER, reason VARCHAR, raw VARCHAR);
        CREATE TABLE IF NOT EXISTS deleted_case (caseid VARCHAR, file_id INTEGER);"""
    ]
    for table, columns in FAERS_COLUMNS.items():
        cols = ", ".join(f"{c} VARCHAR" for c in columns)
        parts.append(
            f"CREATE TABLE IF NOT EXISTS {table} ({cols}, file_id INTEGER, quarter VARCHAR, "
            "legacy BOOLEAN, line BIGINT, n_lines INTEGER, extra VARCHAR);"
        )
    return "\n".join(parts)


class FaersStore:
    """Read and write the FAERS tables of one DuckDB file.

    Open it with ``read_only=True`` for analysis while no ingest runs (DuckDB allows one
    writer).
    """

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = Path(path)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(self.path), read_only=read_only)
        self.con.execute("SET enable_progress_bar = false")  # library code never prints
        self.con.execute("SET preserve_insertion_order = false")  # rows carry their line numbers
        if not read_only:
            self.con.execute(_ddl())
            self.con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> FaersStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- files and provenance -------------------------------------------------------------
    def container_loaded(self, sha256: str) -> bool:
        return bool(
            self.con.execute("SELECT count(*) FROM source_file WHERE container_sha256 = ?", [sha256]).fetchall()[0][0]
        )

    def member_loaded(self, sha256: str) -> bool:
        return bool(self.con.execute("SELECT count(*) FROM source_file WHERE sha256 = ?", [sha256]).fetchall()[0][0])

    def new_file_id(self) -> int:
        return int(self.con.execute("SELECT nextval('file_seq')").fetchall()[0][0])

    def record_file(self, **values: Any) -> None:
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self.con.execute(f"INSERT INTO source_file ({cols}) VALUES ({marks})", list(values.values()))

    def append(self, table: str, batch: pa.Table, *, file_id: int, quarter: str, legacy: bool) -> None:
        n = batch.num_rows
        batch = batch.append_column("file_id", pa.array([file_id] * n, pa.int32()))
        batch = batch.append_column("quarter", pa.array([quarter] * n, pa.string()))
        batch = batch.append_column("legacy", pa.array([legacy] * n, pa.bool_()))
        self.con.register("_batch", batch)
        try:
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _batch")
        finally:
            self.con.unregister("_batch")

    def append_quarantine(self, file_id: int, rows: list[tuple[int, int, str, str]]) -> None:
        if not rows:
            return
        batch = pa.table(
            {
                "file_id": pa.array([file_id] * len(rows), pa.int32()),
                "line": pa.array([r[0] for r in rows], pa.int64()),
                "n_lines": pa.array([r[1] for r in rows], pa.int32()),
                "reason": pa.array([r[2] for r in rows], pa.string()),
                "raw": pa.array([r[3] for r in rows], pa.string()),
            }
        )
        self.con.register("_q", batch)
        try:
            self.con.execute("INSERT INTO quarantine BY NAME SELECT * FROM _q")
        finally:
            self.con.unregister("_q")

    def add_deleted(self, file_id: int, caseids: list[str]) -> None:
        if caseids:
            self.con.register(
                "_d", pa.table({"caseid": caseids, "file_id": pa.array([file_id] * len(caseids), pa.int32())})
            )
            try:
                self.con.execute("INSERT INTO deleted_case BY NAME SELECT * FROM _d")
            finally:
                self.con.unregister("_d")

    def begin(self) -> None:
        self.con.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.con.execute("COMMIT")

    def rollback(self) -> None:
        self.con.execute("ROLLBACK")

    def query(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        return self.con.sql(sql, params=params or None).to_arrow_table()

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        self.con.execute(sql, params or [])
