"""The analytic store: a DuckDB file holding the normalised FAERS tables with provenance,
the quarantine, the de-duplicated case view and the drug-name map (architecture.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from cgtvigil.errors import StoreError, ValidationError
from cgtvigil.model import FAERS_COLUMNS

__all__ = ["FaersStore"]

SCHEMA_VERSION = 2
"""1: the tables as loaded. 2: DEMO stores each row's case key (``case_key``), written at load;
a version 1 store is back-filled when it is first opened for writing."""

CASE_KEY_SQL = "coalesce(nullif(trim(caseid), ''), primaryid)"
"""A DEMO row's case: its ``caseid``, or its ``primaryid`` when the caseid is blank (formats.md
§1.5). Stored as ``demo.case_key`` at load, so that finding the cases a new quarter touches reads
that quarter's rows, not the whole history."""

STORE_MEMORY_LIMIT = "2GB"
"""DuckDB's ``memory_limit`` on a store's connection unless the caller gives one (the commands
give the deployment's setting, ``Settings.duckdb_memory_limit``, ``CGTVIGIL_DUCKDB_MEMORY_LIMIT``,
with the same default). It bounds the ingest's case rebuild and a screen over the store, which
otherwise grow to DuckDB's own default, 80 % of the machine's memory; above it DuckDB spills to
disk (benchmarks/README.md, issue 17 target 3)."""


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
        CREATE TABLE IF NOT EXISTS deleted_case (caseid VARCHAR, file_id INTEGER);
        CREATE TABLE IF NOT EXISTS loaded_container (
            sha256 VARCHAR PRIMARY KEY, container VARCHAR, quarter VARCHAR, members INTEGER,
            imported_at TIMESTAMP DEFAULT current_timestamp);"""
    ]
    for table, columns in FAERS_COLUMNS.items():
        cols = ", ".join(f"{c} VARCHAR" for c in columns)
        key = ", case_key VARCHAR" if table == "demo" else ""
        parts.append(
            f"CREATE TABLE IF NOT EXISTS {table} ({cols}, file_id INTEGER, quarter VARCHAR, "
            f"legacy BOOLEAN, line BIGINT, n_lines INTEGER, extra VARCHAR{key});"
        )
    return "\n".join(parts)


def _explain(path: Path, exc: duckdb.Error | OSError) -> str:
    """One message for an operating-system error on the store file, with what to do."""
    text = str(exc)
    low = text.lower()
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if "lock" in low:
        holder = re.search(r"\(PID (\d+)\)", text)
        who = f"process {holder.group(1)}" if holder else "another process"
        return (
            f"{path}: the store is locked by {who}, which has it open for writing (an ingest?); "
            "wait until it finishes, then try again."
        )
    if "read-only" in low:
        hint = "the file system is read-only; give a --db path on a writable disk"
    elif "no space" in low or "disk is full" in low or "disk full" in low:
        hint = "the disk is full; free space (or give a --db path elsewhere) and re-run the same command"
    elif "permission" in low:
        hint = "permission denied; give a --db path you may write"
    else:
        hint = "check the path and the disk, then re-run the same command"
    return f"{path}: the store cannot be used: {first} ({hint})."


# DuckDB errors that come from the file system, the lock or a transaction aborted by one of
# them; anything else is a programming error and propagates unchanged.
_STORE_ERRORS = (duckdb.IOException, duckdb.TransactionException, duckdb.OutOfMemoryException)


class FaersStore:
    """Read and write the FAERS tables of one DuckDB file.

    Open it with ``read_only=True`` for analysis while no ingest runs (DuckDB allows one
    writer). File-system problems (a lock held by another process, a read-only disk, a folder
    given as the file, a full disk) raise :class:`~cgtvigil.errors.StoreError` naming the file.

    DuckDB works under ``memory_limit`` (default :data:`STORE_MEMORY_LIMIT`, 2GB; None: DuckDB's
    default, 80 % of the machine's memory) and spills above it to ``temp_directory`` (None:
    DuckDB's default, the folder ``<store file>.tmp`` beside the store, created only when
    something spills and removed when the store is closed); see :meth:`limit_memory` and
    :meth:`limited`. A store
    written by schema version 1 gets its ``demo.case_key`` column back-filled when it is first
    opened for writing.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        read_only: bool = False,
        memory_limit: str | None = STORE_MEMORY_LIMIT,
        temp_directory: Path | str | None = None,
    ) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise StoreError(
                f"{self.path}: is a folder; give the store's file path, e.g. {self.path / 'faers.duckdb'}."
            )
        try:
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except (*_STORE_ERRORS, OSError) as exc:
            raise StoreError(_explain(self.path, exc)) from exc
        with self.guard():
            self.con.execute("SET enable_progress_bar = false")  # library code never prints
            self.con.execute("SET preserve_insertion_order = false")  # rows carry their line numbers
        try:
            self.limit_memory(memory_limit, temp_directory)
            if not read_only:
                with self.guard():
                    self._create_or_migrate()
        except BaseException:
            self.con.close()
            raise

    def limit_memory(self, memory_limit: str | None, temp_directory: Path | str | None = None) -> None:
        """Set DuckDB's ``memory_limit`` for this store (a size such as ``"2GB"`` or ``"512MiB"``;
        None leaves DuckDB's default, 80 % of the machine's memory) and the folder it spills to
        above it (None leaves DuckDB's: ``<store file>.tmp``). The limit is DuckDB's, not the
        process's: Python and Arrow memory come on top. Faces pass the deployment's setting
        (``Settings.duckdb_memory_limit`` and ``duckdb_temp_dir``)."""
        try:
            if temp_directory is not None:
                self.con.execute("SET temp_directory = ?", [str(temp_directory)])
            if memory_limit is not None:
                self.con.execute("SET memory_limit = ?", [memory_limit])
            self.memory_limit = memory_limit  # as given: DuckDB shows it rounded
        except (duckdb.InvalidInputException, duckdb.ParserException, duckdb.ConversionException) as exc:
            raise ValidationError(
                [
                    "The 'memory_limit' parameter of FaersStore must be a memory size such as 2GB or 512MiB "
                    f"(and 'temp_directory' a folder path). Got {memory_limit!r}, {temp_directory!r}: "
                    f"{str(exc).strip().splitlines()[0]}."
                ]
            ) from exc

    @contextmanager
    def limited(self, memory_limit: str | None) -> Iterator[FaersStore]:
        """Run a block under another ``memory_limit`` (None: the store's own), then give the
        store its own limit back exactly (DuckDB's default by RESET when it has none)."""
        if memory_limit is None:
            yield self
            return
        own = self.memory_limit
        with self.guard():
            self.con.execute("SET memory_limit = ?", [memory_limit])
        try:
            yield self
        finally:
            with self.guard():
                if own is None:
                    self.con.execute("RESET memory_limit")
                else:
                    self.con.execute("SET memory_limit = ?", [own])

    def _create_or_migrate(self) -> None:
        """Create the tables of a new store; bring an older store to :data:`SCHEMA_VERSION`."""
        had_meta = bool(
            self.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'meta'").fetchall()[0][0]
        )
        stored = self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() if had_meta else []
        version = int(stored[0][0]) if stored else None
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: the store has schema version {version}, written by a newer cgtvigil than this "
                f"one (schema version {SCHEMA_VERSION}); upgrade cgtvigil to write to it."
            )
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute(_ddl())
            columns = {
                r[0]
                for r in self.con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE table_name = 'demo'"
                ).fetchall()
            }
            if "case_key" not in columns:  # schema version 1: the key was computed on every read
                self.con.execute("ALTER TABLE demo ADD COLUMN case_key VARCHAR")
                self.con.execute(f"UPDATE demo SET case_key = {CASE_KEY_SQL}")
            if version != SCHEMA_VERSION:
                self.con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn DuckDB's file-system and aborted-transaction errors into :class:`StoreError`."""
        try:
            yield
        except _STORE_ERRORS as exc:
            raise StoreError(_explain(self.path, exc)) from exc

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> FaersStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- files and provenance -------------------------------------------------------------
    def container_loaded(self, sha256: str) -> bool:
        """True when every member of the archive with this SHA-256 was committed (the
        container row is written in the same transaction as its last member)."""
        with self.guard():
            rows = self.con.execute("SELECT count(*) FROM loaded_container WHERE sha256 = ?", [sha256]).fetchall()
        return bool(rows[0][0])

    def record_container(self, *, sha256: str, container: str, quarter: str, members: int) -> None:
        with self.guard():
            self.con.execute(
                "INSERT OR REPLACE INTO loaded_container (sha256, container, quarter, members) VALUES (?, ?, ?, ?)",
                [sha256, container, quarter, members],
            )

    def member_loaded(self, sha256: str, quarter: str) -> bool:
        """True when a member with this content is already stored for this quarter."""
        with self.guard():
            rows = self.con.execute(
                "SELECT count(*) FROM source_file WHERE sha256 = ? AND quarter = ?", [sha256, quarter]
            ).fetchall()
        return bool(rows[0][0])

    def discard_file(self, file_id: int, table: str) -> None:
        """Remove what the current transaction appended for ``file_id`` (a member found to be
        loaded already once its content hash was known)."""
        with self.guard():
            self.con.execute(
                f"DELETE FROM {'deleted_case' if table == 'deleted' else table} WHERE file_id = ?", [file_id]
            )
            self.con.execute("DELETE FROM quarantine WHERE file_id = ?", [file_id])

    def new_file_id(self) -> int:
        with self.guard():
            return int(self.con.execute("SELECT nextval('file_seq')").fetchall()[0][0])

    def record_file(self, **values: Any) -> None:
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.guard():
            self.con.execute(f"INSERT INTO source_file ({cols}) VALUES ({marks})", list(values.values()))

    def _insert(self, table: str, batch: pa.Table, constants: str = "", params: list[Any] | None = None) -> None:
        # On failure the view stays registered (unregistering in an aborted transaction would
        # raise and hide the cause); the next call replaces it.
        with self.guard():
            self.con.register("_batch", batch)
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT *{constants} FROM _batch", params)
            self.con.unregister("_batch")

    def append(self, table: str, batch: pa.Table, *, file_id: int, quarter: str, legacy: bool) -> None:
        # The batch's provenance as constants of the INSERT (no column of n equal values built).
        constants = ", CAST(? AS INTEGER) AS file_id, CAST(? AS VARCHAR) AS quarter, CAST(? AS BOOLEAN) AS legacy"
        if table == "demo":  # the case key, stored (schema version 2)
            constants += f", {CASE_KEY_SQL} AS case_key"
        self._insert(table, batch, constants, [file_id, quarter, legacy])

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
        self._insert("quarantine", batch)

    def add_deleted(self, file_id: int, caseids: list[str]) -> None:
        if caseids:
            self._insert(
                "deleted_case", pa.table({"caseid": caseids, "file_id": pa.array([file_id] * len(caseids), pa.int32())})
            )

    def begin(self) -> None:
        with self.guard():
            self.con.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        with self.guard():
            self.con.execute("COMMIT")

    def rollback(self) -> None:
        """Roll back the open transaction (also one that a failed statement aborted); a no-op
        when DuckDB has already rolled it back (a COMMIT that failed, e.g. on a full disk)."""
        try:
            self.con.execute("ROLLBACK")
        except duckdb.TransactionException as exc:
            if "no transaction is active" not in str(exc):
                raise StoreError(_explain(self.path, exc)) from exc

    def query(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        with self.guard():
            return self.con.sql(sql, params=params or None).to_arrow_table()

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        with self.guard():
            self.con.execute(sql, params or [])
