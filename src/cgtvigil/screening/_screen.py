"""The disproportionality screen: a source (FAERS store, long file, or 2x2 counts) through
the counting engine and the statistics to a result table with its full provenance."""

from __future__ import annotations

import hashlib
import platform
import re
import tempfile
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cgtvigil import __version__
from cgtvigil.engine import CountingEngine, DuckDBEngine
from cgtvigil.errors import DataQualityWarning, ParseError, StoreError, ValidationError
from cgtvigil.model import ProductDictionary, SignalSpec, TopicSet, spec_hash
from cgtvigil.screening._export import export_relation
from cgtvigil.screening._scoring import rank, score_pairs
from cgtvigil.signals import RULES_VERSION, THRESHOLD_RULES
from cgtvigil.store import (
    STORE_MEMORY_LIMIT,
    STORE_STRATA,
    FaersStore,
    analysis_distinct_sql,
    analysis_relation_sql,
    check_derived_tables,
    loaded_snapshot,
    write_pt_topics,
)

__all__ = ["ScreenResult", "open_screen_store", "screen_counts_file", "screen_long_file", "screen_store"]

# DuckDB's memory for counting (a limit, not a reservation): above it DuckDB spills to disk
# instead of growing. Its default, 80 % of the machine's memory, let the distinct rows of a
# 5M-report long file take the screen to 4.7 GB; under 2 GB the screen peaks at 3.0 GB. The
# spilling costs CPU: at 5M reports the count took 61 CPU s without a limit (4.5 GB), 62 s under
# 3 GB (3.2 GB) and 92 s under 2 GB (benchmarks/README.md, issue 17). The default of the
# deployment's setting (Settings.duckdb_memory_limit, CGTVIGIL_DUCKDB_MEMORY_LIMIT), which the
# commands pass down.
MEMORY_LIMIT = "2GB"

Progress = Callable[[str, int, int], None]


@dataclass
class ScreenResult:
    table: pa.Table
    metadata: dict[str, Any] = field(default_factory=dict)


def _file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _base_metadata(spec: SignalSpec) -> dict[str, Any]:
    return {
        "software": {"name": "cgtvigil", "version": __version__, "python": platform.python_version()},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "spec": spec.model_dump(mode="json"),
        "spec_hash": spec_hash(spec),
        "threshold_rules": {"version": RULES_VERSION, "rules": [r.describe() for r in THRESHOLD_RULES.values()]},
        "priors": {},
        "notes": [
            "Disproportionality gives signals of disproportionate reporting (SDRs), not signals: "
            "validate by case review (GVP IX).",
            "Rules with verified=false are not confirmed against their primary source.",
        ],
    }


def _score_level(
    engine: CountingEngine,
    relation: str,
    spec: SignalSpec,
    level: str,
    meta: dict[str, Any],
    amon_of: Callable[[pa.Array], np.ndarray] | None = None,
    keep: Callable[[pa.Table], pa.Table] | None = None,
    progress: Progress | None = None,
    counted: Callable[[], None] | None = None,
) -> pa.Table:
    if progress:
        progress(f"counting {level} pairs", 0, 2)
    counts = engine.count_pairs(relation, strata=spec.strata)
    if counted is not None:
        counted()
    if progress:
        progress(f"scoring {counts.num_rows:,} {level} pairs", 1, 2)
    if counts.num_rows == 0:
        raise ValidationError(
            [f"The screen found no (drug, {level}) pairs: the source has no reports with both a drug and an event."]
        )
    amon = amon_of(counts.column("drug")) if amon_of else None
    table, prior = score_pairs(counts, spec, additional_monitoring=amon, ranked=True)
    if prior is not None:
        meta["priors"][level] = prior.to_dict()
    if keep is not None:
        table = keep(table)
    if spec.min_count > 1:
        table = table.filter(pc.greater_equal(table.column("n"), spec.min_count))
    return table.append_column("event_type", _constant(level, table.num_rows))


def _constant(text: str, rows: int) -> pa.DictionaryArray:
    """A column of one text value, as a dictionary (as :func:`rank` makes every text column)."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array([text], pa.string()))


def _finish(tables: list[pa.Table], meta: dict[str, Any]) -> ScreenResult:
    table = rank(pa.concat_tables(tables, promote_options="default"))
    names = ["drug", "event", "event_type"] + [
        c for c in table.column_names if c not in ("drug", "event", "event_type")
    ]
    meta["n_rows"] = table.num_rows
    return ScreenResult(table.select(names), meta)


def open_screen_store(
    path: Path, *, memory_limit: str | None = STORE_MEMORY_LIMIT, temp_directory: Path | str | None = None
) -> FaersStore:
    """Open a FAERS store read-only for screening, DuckDB working under ``memory_limit`` and
    spilling to ``temp_directory`` (the commands give the deployment's settings,
    ``CGTVIGIL_DUCKDB_MEMORY_LIMIT`` and ``CGTVIGIL_DUCKDB_TEMP_DIR``).

    Raises :class:`~cgtvigil.errors.StoreError` with one message when the file is missing,
    is not a DuckDB database, or is locked by a writer (DuckDB's lock is per process, so a
    running ingest blocks readers of other processes).
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a store file" if path.is_dir() else "no such store"
        raise StoreError(f"{path}: {what}; run `cgtvigil ingest faers ... --db {path}` first.")
    try:
        return FaersStore(path, read_only=True, memory_limit=memory_limit, temp_directory=temp_directory)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            holder = re.search(r"\(PID (\d+)\)", str(exc))
            who = f"process {holder.group(1)}" if holder else "another process"
            raise StoreError(
                f"{path}: the store is locked by {who}, which has it open for writing (an ingest?); "
                "wait until it finishes, then run the screen again."
            ) from exc
        raise StoreError(f"{path}: the store cannot be opened: {exc}") from exc
    except duckdb.Error as exc:
        raise StoreError(f"{path}: the store cannot be opened: {exc}") from exc


def screen_store(
    store: FaersStore,
    spec: SignalSpec,
    products: ProductDictionary,
    topics: TopicSet,
    *,
    exclude_probable_duplicates: bool = False,
    progress: Progress | None = None,
    engine: CountingEngine | None = None,
    export_dir: Path | None = None,
) -> ScreenResult:
    """Screen the de-duplicated FAERS store: every CGT product (or every drug) against PTs
    and CGT safety topics. The prior is fitted on all pairs of the database.

    DuckDB counts on the store itself; another ``engine`` (Spark) counts the store's Parquet
    export, written to a temporary folder in ``export_dir`` (on a cluster: a folder every
    executor reads).

    Refuses (:class:`~cgtvigil.errors.StaleStoreError`) a store whose case view or drug map
    was not built from the files now loaded; a database error becomes one
    :class:`~cgtvigil.errors.StoreError`."""
    unknown = [s for s in spec.strata if s not in STORE_STRATA]
    if unknown:
        raise ValidationError(
            [f"The 'strata' of a FAERS store screen must be among {', '.join(STORE_STRATA)}. Got {unknown}."]
        )
    try:
        check_derived_tables(store)
        return _screen_store(store, spec, products, topics, exclude_probable_duplicates, progress, engine, export_dir)
    except duckdb.Error as exc:
        raise StoreError(f"{store.path}: the screen failed while reading the store: {exc}") from exc


def _screen_store(
    store: FaersStore,
    spec: SignalSpec,
    products: ProductDictionary,
    topics: TopicSet,
    exclude_probable_duplicates: bool,
    progress: Progress | None,
    other_engine: CountingEngine | None = None,
    export_dir: Path | None = None,
) -> ScreenResult:
    meta = _base_metadata(spec)
    last_import = store.con.execute("SELECT max(imported_at) FROM source_file").fetchall()[0][0]
    meta["data"] = {
        "source": "faers_store",
        "path": str(store.path),
        **loaded_snapshot(store),
        "last_import": str(last_import),
        "quarters": [
            r["quarter"] for r in store.query("SELECT DISTINCT quarter FROM source_file ORDER BY 1").to_pylist()
        ],
    }
    mapped_with = store.con.execute("SELECT value FROM meta WHERE key = 'product_dictionary_version'").fetchall()
    if mapped_with and mapped_with[0][0] != products.version:
        note = (
            f"The store's drug names were mapped with product dictionary {mapped_with[0][0]}, this screen uses "
            f"{products.version}: re-run the ingest to map them with the current dictionary."
        )
        meta["notes"].append(note)
        warnings.warn(note, DataQualityWarning, stacklevel=3)
    meta["dictionaries"] = {
        "products": products.version,
        "topics": topics.version,
        "topic_names": {t.id: t.name for t in topics.topics},
        "topic_notice": topics.notice,
    }
    write_pt_topics(store, topics.pt_to_topics())
    brands = {p.brand: p for p in products.products}
    brand_set = pa.array(sorted(brands))

    def amon_of(drugs: pa.Array) -> np.ndarray:
        return np.array([bool(brands[d].additional_monitoring) if d in brands else False for d in drugs.to_pylist()])

    def keep(table: pa.Table) -> pa.Table:
        if not spec.products_only:
            return table
        return table.filter(pc.is_in(table.column("drug"), value_set=brand_set))

    duckdb_engine = DuckDBEngine(store.con)
    engine: CountingEngine = other_engine or duckdb_engine
    if other_engine is not None:
        meta["engine"] = type(other_engine).__name__
    meta["attrition"] = _attrition(store, spec, exclude_probable_duplicates)
    tables = []
    # a folder for the Parquet export, only when another engine reads it
    export = tempfile.TemporaryDirectory(prefix="cgtvigil-export-", dir=export_dir) if other_engine else nullcontext("")
    with export as folder:
        for level in spec.event_levels:
            dup = exclude_probable_duplicates
            sql = analysis_relation_sql(spec.roles, level=level, exclude_duplicates=dup)
            if other_engine is None:
                distinct = analysis_distinct_sql(spec.roles, level=level, exclude_duplicates=dup)
                relation = duckdb_engine.relation_from_sql(sql, distinct_sql=distinct)
            else:
                exported = export_relation(store, sql, Path(folder) / f"{level}.parquet")
                relation = engine.relation_from_file(exported, strata=spec.strata)
            tables.append(_score_level(engine, relation, spec, level, meta, amon_of, keep, progress))
    if progress:
        progress("done", 2, 2)
    return _finish(tables, meta)


def _attrition(store: FaersStore, spec: SignalSpec, exclude_duplicates: bool) -> list[dict[str, Any]]:
    """Reports in and out of each step from the loaded DEMO rows to the analysed cases."""
    roles = ", ".join(f"'{r}'" for r in spec.roles)
    counts = store.query(
        f"""SELECT (SELECT count(*) FROM demo) AS versions,
                   (SELECT count(*) FROM report) AS cases,
                   (SELECT count(*) FROM report WHERE NOT deleted) AS not_deleted,
                   (SELECT count(*) FROM report WHERE NOT deleted AND NOT probable_duplicate) AS not_duplicate,
                   (SELECT count(DISTINCT r.primaryid) FROM report r
                      JOIN drug g ON g.primaryid = r.primaryid AND g.quarter = r.quarter
                                 AND upper(trim(g.role_cod)) IN ({roles})
                      JOIN reac x ON x.primaryid = r.primaryid AND x.quarter = r.quarter
                                 AND nullif(trim(x.pt), '') IS NOT NULL
                     WHERE NOT r.deleted {"AND NOT r.probable_duplicate" if exclude_duplicates else ""}) AS analysed"""
    ).to_pylist()[0]
    steps = [
        ("latest version per case", counts["versions"], counts["cases"], "older case versions superseded"),
        ("FDA-deleted cases excluded", counts["cases"], counts["not_deleted"], "caseid in a Deleted list"),
    ]
    last = counts["not_deleted"]
    if exclude_duplicates:
        steps.append(("probable duplicates excluded", last, counts["not_duplicate"], "same key fields as another case"))
        last = counts["not_duplicate"]
    steps.append(
        ("suspect drug and PT present", last, counts["analysed"], f"no drug with role {'/'.join(spec.roles)} or no PT")
    )
    return [{"step": a, "reports_in": b, "reports_out": c, "reason": d} for a, b, c, d in steps]


def screen_long_file(
    path: Path,
    spec: SignalSpec,
    *,
    engine: CountingEngine | None = None,
    progress: Progress | None = None,
    memory_limit: str | None = MEMORY_LIMIT,
    temp_directory: Path | None = None,
) -> ScreenResult:
    """Screen every (drug, event) pair of a long-format file (one row per report, drug and
    event; the openEBGM layout ``id, var1, var2, strat...`` is accepted).

    Rows with a blank report id, drug or event are left out; how many is recorded in the
    attrition of the metadata and raised as a :class:`~cgtvigil.errors.DataQualityWarning`.
    Without an ``engine``, DuckDB counts under ``memory_limit`` (None: DuckDB's default, 80 % of
    the machine's memory) and spills to ``temp_directory`` (None: a folder of its own in the
    system's temporary folder, removed when the pairs are counted)."""
    path = Path(path)
    meta = _base_metadata(spec)
    if engine is not None:
        meta["engine"] = type(engine).__name__
    own: DuckDBEngine | None = None
    if engine is None:
        engine = own = DuckDBEngine(memory_limit=memory_limit, temp_directory=temp_directory)
    meta["data"] = {"source": "long_file", "path": str(path), "sha256": _file_sha256(path)}
    try:
        relation = engine.relation_from_file(path, strata=spec.strata)
        rows = engine.count_rows(relation)
        meta["attrition"] = [_long_attrition(rows)]
        _warn_long_rows(path, rows, meta)
        # A connection of our own is closed once the pairs are counted: DuckDB's allocator keeps
        # the memory of the distinct rows until then (0.4 GB at 1M reports), under the scoring's.
        table = _score_level(engine, relation, spec, "pt", meta, progress=progress, counted=own.close if own else None)
    except duckdb.Error as exc:
        raise ParseError(f"cannot be read as a long-format table: {exc}", file=str(path)) from exc
    if progress:
        progress("done", 2, 2)
    return _finish([table], meta)


def _blank_fields(rows: dict[str, int]) -> str:
    blanks = [f"{rows[f'blank_{k}']:,} with a blank {k.replace('_', ' ')}" for k in ("report_id", "drug", "event")]
    return "; ".join(blanks) + " (a row may have several)"


def _long_attrition(rows: dict[str, int]) -> dict[str, Any]:
    return {
        "step": "rows with a report id, a drug and an event",
        "reports_in": rows["rows"],
        "reports_out": rows["complete"],
        "reason": f"rows left out: {_blank_fields(rows)}",
        "unit": "rows",
    }


def _warn_long_rows(path: Path, rows: dict[str, int], meta: dict[str, Any]) -> None:
    dropped = rows["rows"] - rows["complete"]
    notes = []
    if dropped and rows["complete"]:
        notes.append(f"{path}: {dropped:,} of {rows['rows']:,} rows left out, {_blank_fields(rows)}.")
    if rows["stray_quote"]:
        notes.append(
            f"{path}: {rows['stray_quote']:,} rows have a drug or event that starts with a double quote; the file "
            "may hold an unbalanced quote, which the reader took as part of the name."
        )
    for note in notes:
        meta["notes"].append(note)
        warnings.warn(note, DataQualityWarning, stacklevel=3)


MAX_EXACT_COUNT = 2**53  # the largest integer a float64 holds exactly (the statistics run in float64)
_WHOLE = r"^\s*\+?(\d+)(\.0*)?\s*$"
_MAX_LISTED = 20


def _sql_path(path: Path) -> str:
    return "'" + path.as_posix().replace("'", "''") + "'"


def _read_counts(path: Path) -> tuple[pa.Table, Callable[[int], str]]:
    """The counts file as a table (CSV cells as text) and how to name its i-th data row."""
    if not path.is_file():
        raise ParseError("no such file; expected a counts CSV or Parquet file", file=str(path))
    parquet = path.suffix.lower() == ".parquet"
    source = (
        f"read_parquet({_sql_path(path)})"
        if parquet
        else f"read_csv({_sql_path(path)}, header = true, all_varchar = true)"
    )
    try:
        raw = duckdb.connect().sql(f"SELECT * FROM {source}").to_arrow_table()
    except duckdb.Error as exc:
        raise ParseError(f"cannot be read as a table: {exc}", file=str(path)) from exc
    # A CSV row is named by its line (header on line 1, one line per row); a Parquet row by its number.
    return raw, (lambda i: f"{path}, row {i + 1}") if parquet else (lambda i: f"{path}, line {i + 2}")


def _exact_counts(column: pa.ChunkedArray, name: str, where: Callable[[int], str], problems: list[str]) -> np.ndarray:
    """Whole numbers 0..2^53 read exactly from text (or any Parquet type); a problem per bad cell."""
    text = pc.cast(column, pa.string())
    whole = pc.fill_null(pc.match_substring_regex(text, _WHOLE), False).to_numpy(zero_copy_only=False)
    digits = pc.utf8_ltrim(pc.replace_substring_regex(pc.fill_null(text, ""), _WHOLE, r"\1"), characters="0")
    digits = pc.if_else(whole, digits, "0")
    long = pc.greater(pc.utf8_length(digits), 16).to_numpy(zero_copy_only=False)
    values = pc.cast(pc.if_else(pc.or_(pc.equal(digits, ""), long), "0", digits), pa.int64()).to_numpy(
        zero_copy_only=False
    )
    beyond = long | (values > MAX_EXACT_COUNT)

    def not_whole(v: str | None) -> str:
        return f"{'blank' if v is None or not v.strip() else repr(v)} is not a count (a whole number >= 0)"

    def too_big(v: str | None) -> str:
        return f"{v} is above 2^53 = {MAX_EXACT_COUNT:,}, the largest count the statistics hold exactly"

    says: Callable[[str | None], str]
    for rows, says in ((np.flatnonzero(~whole), not_whole), (np.flatnonzero(beyond), too_big)):
        # every bad cell counts; only the ones that can be listed are read back
        cells = text.take(pa.array(rows[:_MAX_LISTED])).to_pylist() + [None] * (len(rows) - _MAX_LISTED)
        problems.extend(f"{where(int(r))}, column '{name}': {says(v)}." for r, v in zip(rows, cells, strict=True))
    return np.where(beyond, 0, values)


def _names(column: pa.ChunkedArray, name: str, where: Callable[[int], str], problems: list[str]) -> pa.Array:
    values = pc.cast(column, pa.string()).combine_chunks()
    blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(values), ""), True).to_numpy(zero_copy_only=False)
    problems.extend(f"{where(int(i))}, column '{name}': blank." for i in np.flatnonzero(blank))
    return values


def screen_counts_file(path: Path, spec: SignalSpec) -> ScreenResult:
    """Score a table of 2x2 counts (``drug, event, a, b, c, d`` per row; CSV or Parquet).

    Counts are read exactly: a cell that is not a whole number in 0..2^53 (a fraction, a
    sign, text, a blank) is refused, and so is a (drug, event) pair given on two rows, with
    every offending row named. Rows whose margins disagree (one drug with two values of
    a+b, two database sizes a+b+c+d) are scored as given, with a DataQualityWarning."""
    path = Path(path)
    raw, where = _read_counts(path)
    lower = {c.lower(): c for c in raw.column_names}
    missing = [c for c in ("drug", "a", "b", "c", "d") if c not in lower]
    if missing:
        raise ParseError(
            f"missing column(s) {', '.join(missing)}; the file has {', '.join(raw.column_names)}",
            file=str(path),
            line=1,
        )
    if raw.num_rows == 0:
        raise ParseError("has a header but no rows; give one row of a, b, c, d per (drug, event) pair", file=str(path))
    problems: list[str] = []
    drug = _names(raw.column(lower["drug"]), lower["drug"], where, problems)
    event = (
        _names(raw.column(lower["event"]), lower["event"], where, problems)
        if "event" in lower
        else pa.array(["event"] * raw.num_rows, pa.string())
    )
    a, b, c, d = (_exact_counts(raw.column(lower[k]), lower[k], where, problems) for k in "abcd")
    total = a + b + c + d  # each <= 2^53, so the int64 sum is exact
    problems.extend(
        f"{where(int(i))}: a+b+c+d = {int(total[i]):,} is above 2^53 = {MAX_EXACT_COUNT:,}."
        for i in np.flatnonzero(total > MAX_EXACT_COUNT)
    )
    rows = pa.table({"drug": drug, "event": event, "i": pa.array(np.arange(raw.num_rows))})
    repeats = rows.group_by(["drug", "event"]).aggregate([("i", "list")])
    for r in repeats.filter(pc.greater(pc.list_value_length(repeats.column("i_list")), 1)).to_pylist():
        lines = ", ".join(where(i).rsplit(", ", 1)[1] for i in r["i_list"])
        problems.append(f"{path}: the pair ({r['drug']!r}, {r['event']!r}) is given on {lines}; give each pair once.")
    if problems:
        shown = problems[:_MAX_LISTED]
        if len(problems) > _MAX_LISTED:
            shown.append(f"... and {len(problems) - _MAX_LISTED:,} more problems in {path}.")
        raise ValidationError(shown)
    counts = pa.table({"drug": drug, "event": event, "n": a, "n_drug": a + b, "n_event": a + c, "n_total": total})
    meta = _base_metadata(spec)
    meta["data"] = {"source": "counts_file", "path": str(path), "sha256": _file_sha256(path)}
    _warn_margins(path, counts, meta)
    table, prior = score_pairs(counts, spec, ranked=True)
    if prior is not None:
        meta["priors"]["pt"] = prior.to_dict()
    if spec.min_count > 1:  # as for the other sources: the prior is fitted on every pair first
        table = table.filter(pc.greater_equal(table.column("n"), spec.min_count))
    table = table.append_column("event_type", _constant("pt", table.num_rows))
    return _finish([table], meta)


def _warn_margins(path: Path, counts: pa.Table, meta: dict[str, Any]) -> None:
    """Warn when the rows do not describe one database (the prior and ranking assume one)."""
    found = []
    for key, margin, what in (
        ("drug", "n_drug", "drugs with rows giving different a+b"),
        ("event", "n_event", "events with rows giving different a+c"),
    ):
        g = counts.group_by(key).aggregate([(margin, "count_distinct")])
        k = pc.sum(pc.greater(g.column(f"{margin}_count_distinct"), 1)).as_py() or 0
        if k:
            found.append(f"{k:,} {what}")
    totals = len(pc.unique(counts.column("n_total")))
    if totals > 1:
        found.append(f"{totals:,} different database sizes a+b+c+d")
    if found:
        note = (
            f"{path}: the margins disagree ({'; '.join(found)}). Each row is scored on its own 2x2 table, "
            "but the EBGM prior and the ranking assume the rows come from one database."
        )
        meta["notes"].append(note)
        warnings.warn(note, DataQualityWarning, stacklevel=3)
