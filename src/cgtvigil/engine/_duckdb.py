"""DuckDB implementation of the counting engine (the embedded default)."""

from __future__ import annotations

import csv
import gzip
import itertools
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cgtvigil.engine._base import ROW_COUNT_KEYS
from cgtvigil.errors import ParseError

__all__ = ["DuckDBEngine"]

# Accepted column names of a long-format file: ours, then the openEBGM layout.
_ALIASES = {"report_id": ("report_id", "id"), "drug": ("drug", "var1"), "event": ("event", "var2")}


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


def _lookup(keys: pa.ChunkedArray, table_keys: pa.ChunkedArray, values: pa.ChunkedArray) -> pa.Array:
    """values[position of each key in table_keys] (a hash lookup, no join)."""
    pos = pc.index_in(keys, value_set=table_keys.combine_chunks())
    return values.combine_chunks().take(pos)


class DuckDBEngine:
    """Count pairs with DuckDB, in memory or on a given connection (e.g. the FAERS store).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection, optional
        Connection to use; a new in-memory database by default.
    threads : int, optional
        DuckDB worker threads (default: DuckDB's choice, all cores).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None, *, threads: int | None = None) -> None:
        self.con = con if con is not None else duckdb.connect()
        self.con.execute("SET enable_progress_bar = false")  # library code never prints
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self._ids = itertools.count(1)

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
            columns = [r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        except duckdb.Error as exc:
            raise ParseError(f"cannot be read as a table: {exc}", file=str(path)) from exc
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
        select = ", ".join(
            [
                f"{_blank_to_null(f'CAST({_q(chosen[role])} AS VARCHAR)')} AS {role}"
                for role in ("report_id", "drug", "event")
            ]
            + [f"CAST({_q(lower[s.lower()])} AS VARCHAR) AS {_q(s)}" for s in strata]
        )
        name = f"_rel{next(self._ids)}"
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {select} FROM {source}")
        return name

    def relation_from_sql(self, sql: str) -> str:
        name = f"_rel{next(self._ids)}"
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
        return name

    def count_rows(self, relation: str) -> dict[str, int]:
        rel = _q(relation) if not relation.startswith("_rel") else relation
        row = self.con.execute(
            f"""SELECT count(*),
                       count(*) FILTER (WHERE report_id IS NOT NULL AND drug IS NOT NULL AND event IS NOT NULL),
                       count(*) FILTER (WHERE report_id IS NULL), count(*) FILTER (WHERE drug IS NULL),
                       count(*) FILTER (WHERE event IS NULL),
                       count(*) FILTER (WHERE starts_with(drug, '"') OR starts_with(event, '"'))
                FROM {rel}"""
        ).fetchall()[0]
        return {k: int(v) for k, v in zip(ROW_COUNT_KEYS, row, strict=True)}

    def count_pairs(self, relation: str, *, strata: tuple[str, ...] = ()) -> pa.Table:
        con = self.con
        rel = _q(relation) if not relation.startswith("_rel") else relation
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _l AS SELECT DISTINCT report_id, drug, event FROM {rel} "
            "WHERE report_id IS NOT NULL AND drug IS NOT NULL AND event IS NOT NULL"
        )
        pairs = con.sql("SELECT drug, event, count(*) AS n FROM _l GROUP BY drug, event").to_arrow_table()
        if not strata:
            nd = con.sql("SELECT drug, count(DISTINCT report_id) AS c FROM _l GROUP BY drug").to_arrow_table()
            ne = con.sql("SELECT event, count(DISTINCT report_id) AS c FROM _l GROUP BY event").to_arrow_table()
            n_total = con.sql("SELECT count(DISTINCT report_id) FROM _l").fetchall()[0][0]
            return pa.table(
                {
                    "drug": pairs.column("drug"),
                    "event": pairs.column("event"),
                    "n": pairs.column("n"),
                    "n_drug": _lookup(pairs.column("drug"), nd.column("drug"), nd.column("c")),
                    "n_event": _lookup(pairs.column("event"), ne.column("event"), ne.column("c")),
                    "n_total": pa.array(np.full(pairs.num_rows, n_total, dtype=np.int64)),
                }
            )
        stratum = "concat_ws('|', " + ", ".join(f"coalesce(CAST({_q(s)} AS VARCHAR), '')" for s in strata) + ")"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _rs AS "
            f"SELECT report_id, any_value({stratum}) AS s FROM {rel} GROUP BY report_id"
        )
        return con.sql(
            """
            WITH ls AS (SELECT _l.*, _rs.s FROM _l JOIN _rs USING (report_id)),
                 nd AS (SELECT drug, count(DISTINCT report_id) AS n_drug FROM _l GROUP BY drug),
                 ne AS (SELECT event, count(DISTINCT report_id) AS n_event FROM _l GROUP BY event),
                 nt AS (SELECT count(DISTINCT report_id) AS n_total FROM _l),
                 nds AS (SELECT drug, s, count(DISTINCT report_id) AS c FROM ls GROUP BY drug, s),
                 nes AS (SELECT event, s, count(DISTINCT report_id) AS c FROM ls GROUP BY event, s),
                 ns AS (SELECT s, count(DISTINCT report_id) AS c FROM ls GROUP BY s),
                 p AS (SELECT drug, event, count(*) AS n FROM _l GROUP BY drug, event),
                 e AS (SELECT p.drug, p.event, sum(nds.c::DOUBLE * nes.c / ns.c) AS e_strat
                       FROM p JOIN nds USING (drug) JOIN nes ON nes.event = p.event AND nes.s = nds.s
                       JOIN ns ON ns.s = nds.s GROUP BY p.drug, p.event)
            SELECT p.drug, p.event, p.n, nd.n_drug, ne.n_event, nt.n_total, e.e_strat
            FROM p JOIN nd USING (drug) JOIN ne USING (event) CROSS JOIN nt
            JOIN e ON e.drug = p.drug AND e.event = p.event
            """
        ).to_arrow_table()
