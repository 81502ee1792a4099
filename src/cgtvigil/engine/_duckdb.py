"""DuckDB implementation of the counting engine (the embedded default)."""

from __future__ import annotations

import csv
import gzip
import itertools
import shutil
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa

from cgtvigil.engine._base import ROW_COUNT_KEYS, expected_from_parts, expected_term_parts_sql
from cgtvigil.errors import ParseError

__all__ = ["DuckDBEngine"]

# Accepted column names of a long-format file: ours, then the openEBGM layout.
_ALIASES = {"report_id": ("report_id", "id"), "drug": ("drug", "var1"), "event": ("event", "var2")}


# Report-id column types used as they are (no text to trim).
_NATIVE_ID_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    """A path as an SQL string literal (a quote in a file name must not end the string)."""
    return "'" + path.as_posix().replace("'", "''") + "'"


def _blank_to_null(expr: str) -> str:
    return f"CASE WHEN trim({expr}) = '' THEN NULL ELSE {expr} END"


def _repeated_header_names(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Names given to more than one column in the header line of a CSV file (DuckDB renames
    the repeats to ``name_1``, ... and would silently use the first)."""
    delim = con.execute(f"SELECT Delimiter FROM sniff_csv({_literal(path)})").fetchall()[0][0]
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as fh:
        line = fh.readline(1 << 20)
    names = next(csv.reader([line.decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r\n")], delimiter=delim), [])
    seen: dict[str, int] = {}
    for n in names:
        seen[n.strip().lower()] = seen.get(n.strip().lower(), 0) + 1
    return [n for n, k in seen.items() if k > 1]


class DuckDBEngine:
    """Count pairs with DuckDB, in memory or on a given connection (e.g. the FAERS store).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection, optional
        Connection to use; a new in-memory database by default.
    threads : int, optional
        DuckDB worker threads (default: DuckDB's choice, all cores).
    memory_limit : str, optional
        DuckDB's ``memory_limit`` (such as ``"2GB"``) for this engine's work: above it, joins,
        aggregates and temporary tables spill to ``temp_directory`` instead of growing (default:
        DuckDB's, 80 % of the machine's memory). For the engine's own connection only: a given
        one (a store's) keeps its own limit.
    temp_directory : Path, optional
        Where DuckDB spills (default: a new folder in the system's temporary folder, removed on
        :meth:`close`, for a connection of the engine's own; DuckDB's default on a given one).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection | None = None,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: Path | None = None,
    ) -> None:
        self._own_temp: Path | None = None
        if con is None:
            con = duckdb.connect()
            if memory_limit and temp_directory is None:  # spill into a folder of its own
                temp_directory = self._own_temp = Path(tempfile.mkdtemp(prefix="cgtvigil-duckdb-"))
            if temp_directory is not None:
                con.execute("SET temp_directory = ?", [str(temp_directory)])
            if memory_limit:
                con.execute("SET memory_limit = ?", [memory_limit])
        self.con = con
        self.con.execute("SET enable_progress_bar = false")  # library code never prints
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self._ids = itertools.count(1)
        self._distinct: dict[str, str] = {}
        self._distinct_sql: dict[str, str] = {}

    def close(self) -> None:
        """Close the connection (and so hand DuckDB's memory back; its allocator keeps what a
        finished query used until then). The engine cannot count after this."""
        self.con.close()
        if self._own_temp is not None:
            shutil.rmtree(self._own_temp, ignore_errors=True)

    def relation_from_file(self, path: Path, *, strata: tuple[str, ...] = ()) -> str:
        path = Path(path)
        if not path.exists():
            raise ParseError("no such file; expected a long-format CSV or Parquet file", file=str(path))
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            source = f"read_parquet({_literal(path)})"
        elif suffix in (".csv", ".txt", ".gz"):
            source = f"read_csv({_literal(path)}, header = true, all_varchar = true)"
        else:
            raise ParseError(f"unknown file type '{suffix}'; expected .csv or .parquet", file=str(path))
        try:
            described = self.con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        except duckdb.Error as exc:
            raise ParseError(f"cannot be read as a table: {exc}", file=str(path)) from exc
        columns = [r[0] for r in described]
        types = {r[0]: str(r[1]) for r in described}
        lower = {c.lower(): c for c in columns}
        chosen: dict[str, str] = {}
        problems = []
        for role, names in _ALIASES.items():
            found = next((lower[n] for n in names if n in lower), None)
            if found is None:
                problems.append(f"a '{names[0]}' (or '{names[1]}') column")
            else:
                chosen[role] = found
        for s in strata:
            if s.lower() not in lower:
                problems.append(f"the stratum column '{s}'")
        if problems:
            raise ParseError(
                f"missing {', '.join(problems)}; the file has columns {', '.join(columns)}", file=str(path), line=1
            )
        if suffix != ".parquet":
            used = {c.lower() for c in chosen.values()} | {s.lower() for s in strata}
            repeated = [n for n in _repeated_header_names(self.con, path) if n in used]
            if repeated:
                raise ParseError(
                    f"the header names the column(s) {', '.join(repeated)} more than once; "
                    "keep one column of each name",
                    file=str(path),
                    line=1,
                )

        def key(role: str) -> str:
            # A report id of a numeric type is kept as it is (grouping on it is cheaper, and it
            # cannot be blank); text is trimmed-blank to NULL.
            column = chosen[role]
            if role == "report_id" and types[column] in _NATIVE_ID_TYPES:
                return f"{_q(column)} AS {role}"
            return f"{_blank_to_null(f'CAST({_q(column)} AS VARCHAR)')} AS {role}"

        select = ", ".join(
            [key(role) for role in ("report_id", "drug", "event")]
            + [f"CAST({_q(lower[s.lower()])} AS VARCHAR) AS {_q(s)}" for s in strata]
        )
        name = f"_rel{next(self._ids)}"
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {select} FROM {source}")
        return name

    def relation_from_sql(self, sql: str, *, distinct_sql: str | None = None) -> str:
        """A relation over a query on this connection. ``distinct_sql``, when given, is a
        query for the same relation's distinct (report_id, drug, event) rows with their
        multiplicity ``k``, written so it costs less than grouping ``sql`` (the store's
        :func:`~cgtvigil.store.analysis_distinct_sql`); it must give the same rows."""
        name = f"_rel{next(self._ids)}"
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
        if distinct_sql is not None:
            self._distinct_sql[name] = distinct_sql
        return name

    def _distinct_rows(self, relation: str) -> str:
        """The relation's distinct (report_id, drug, event) rows with their multiplicity ``k``,
        blanks (NULL) included, materialised once: ``count_rows`` and ``count_pairs`` share it,
        so the file is scanned once."""
        table = self._distinct.get(relation)
        if table is None:
            rel = _q(relation) if not relation.startswith("_rel") else relation
            table = f"_d{next(self._ids)}"
            grouped = f"SELECT report_id, drug, event, count(*) AS k FROM {rel} GROUP BY ALL"
            body = self._distinct_sql.get(relation, grouped)
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {body}")
            self._distinct[relation] = table
        return table

    def count_rows(self, relation: str) -> dict[str, int]:
        row = self.con.execute(
            f"""SELECT sum(k),
                       sum(k) FILTER (WHERE report_id IS NOT NULL AND drug IS NOT NULL AND event IS NOT NULL),
                       sum(k) FILTER (WHERE report_id IS NULL), sum(k) FILTER (WHERE drug IS NULL),
                       sum(k) FILTER (WHERE event IS NULL),
                       sum(k) FILTER (WHERE starts_with(drug, '"') OR starts_with(event, '"'))
                FROM {self._distinct_rows(relation)}"""
        ).fetchall()[0]
        return {k: int(v or 0) for k, v in zip(ROW_COUNT_KEYS, row, strict=True)}

    def count_pairs(self, relation: str, *, strata: tuple[str, ...] = ()) -> pa.Table:
        con = self.con
        rel = _q(relation) if not relation.startswith("_rel") else relation
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW _l AS SELECT report_id, drug, event FROM {self._distinct_rows(relation)} "
            "WHERE report_id IS NOT NULL AND drug IS NOT NULL AND event IS NOT NULL"
        )
        try:
            return self._pairs(rel, strata)
        finally:  # the distinct rows are not kept past the count (a later count_rows re-reads)
            con.execute(f"DROP TABLE IF EXISTS {self._distinct.pop(relation)}")

    def _pairs(self, rel: str, strata: tuple[str, ...]) -> pa.Table:
        con = self.con
        if not strata:
            # One query: the margins join the pair counts inside DuckDB.
            return con.sql(
                """
                WITH p AS (SELECT drug, event, count(*) AS n FROM _l GROUP BY drug, event),
                     nd AS (SELECT drug, count(DISTINCT report_id) AS n_drug FROM _l GROUP BY drug),
                     ne AS (SELECT event, count(DISTINCT report_id) AS n_event FROM _l GROUP BY event),
                     nt AS (SELECT count(DISTINCT report_id) AS n_total FROM _l)
                SELECT p.drug, p.event, p.n, nd.n_drug, ne.n_event, nt.n_total
                FROM p JOIN nd USING (drug) JOIN ne USING (event) CROSS JOIN nt
                """
            ).to_arrow_table()
        stratum = "concat_ws('|', " + ", ".join(f"coalesce(CAST({_q(s)} AS VARCHAR), '')" for s in strata) + ")"
        # Each step is a table of its own, so each can spill: one stratum per report; the
        # per-stratum margins from the distinct (report, drug) and (report, event) rows (a
        # report is in one stratum, so the crude margins are their sums, with no DISTINCT
        # aggregate); then E summed over the strata a pair's drug and event share.
        steps = {
            "_rs": f"SELECT report_id, any_value({stratum}) AS s FROM {rel} GROUP BY report_id",
            "_nds": "SELECT drug, s, count(*) AS c FROM (SELECT DISTINCT report_id, drug FROM _l) "
            "JOIN _rs USING (report_id) GROUP BY drug, s",
            "_nes": "SELECT event, s, count(*) AS c FROM (SELECT DISTINCT report_id, event FROM _l) "
            "JOIN _rs USING (report_id) GROUP BY event, s",
            "_ns": "SELECT s, count(*) AS c FROM (SELECT DISTINCT report_id FROM _l) "
            "JOIN _rs USING (report_id) GROUP BY s",
            "_p": "SELECT drug, event, count(*) AS n FROM _l GROUP BY drug, event",
        }
        # E summed exactly, in integer parts (see expected_term_parts_sql)
        q, f1, f2 = expected_term_parts_sql("nds.c * nes.c", "ns.c", "//")
        try:
            for name, body in steps.items():
                con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {body}")
            table = con.sql(
                f"""
                WITH nd AS (SELECT drug, sum(c)::BIGINT AS n_drug FROM _nds GROUP BY drug),
                     ne AS (SELECT event, sum(c)::BIGINT AS n_event FROM _nes GROUP BY event),
                     nt AS (SELECT sum(c)::BIGINT AS n_total FROM _ns),
                     e AS (SELECT p.drug, p.event, sum({q})::BIGINT AS e_q, sum({f1})::BIGINT AS e_f1,
                                  sum({f2})::BIGINT AS e_f2
                           FROM _p p JOIN _nds nds USING (drug) JOIN _nes nes ON nes.event = p.event AND nes.s = nds.s
                           JOIN _ns ns ON ns.s = nds.s GROUP BY p.drug, p.event)
                SELECT p.drug, p.event, p.n, nd.n_drug, ne.n_event, nt.n_total, e.e_q, e.e_f1, e.e_f2
                FROM _p p JOIN nd USING (drug) JOIN ne USING (event) CROSS JOIN nt
                JOIN e ON e.drug = p.drug AND e.event = p.event
                """
            ).to_arrow_table()
        finally:
            for name in steps:
                con.execute(f"DROP TABLE IF EXISTS {name}")
        return expected_from_parts(table)
