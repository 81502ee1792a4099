"""The disproportionality screen: a source (FAERS store, long file, or 2x2 counts) through
the counting engine and the statistics to a result table with its full provenance."""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Callable
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
from cgtvigil.errors import ParseError, ValidationError
from cgtvigil.model import ProductDictionary, SignalSpec, TopicSet, spec_hash
from cgtvigil.screening._scoring import rank, score_pairs
from cgtvigil.signals import RULES_VERSION, THRESHOLD_RULES
from cgtvigil.store import FaersStore, analysis_relation_sql, write_pt_topics

__all__ = ["ScreenResult", "screen_counts_file", "screen_long_file", "screen_store"]

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
) -> pa.Table:
    if progress:
        progress(f"counting {level} pairs", 0, 2)
    counts = engine.count_pairs(relation, strata=spec.strata)
    if progress:
        progress(f"scoring {counts.num_rows:,} {level} pairs", 1, 2)
    if counts.num_rows == 0:
        raise ValidationError(
            [f"The screen found no (drug, {level}) pairs: the source has no reports with both a drug and an event."]
        )
    amon = amon_of(counts.column("drug")) if amon_of else None
    table, prior = score_pairs(counts, spec, additional_monitoring=amon)
    if prior is not None:
        meta["priors"][level] = prior.to_dict()
    if keep is not None:
        table = keep(table)
    if spec.min_count > 1:
        table = table.filter(pc.greater_equal(table.column("n"), spec.min_count))
    return table.append_column("event_type", pa.array([level] * table.num_rows, pa.string()))


def _finish(tables: list[pa.Table], meta: dict[str, Any]) -> ScreenResult:
    table = rank(pa.concat_tables(tables, promote_options="default"))
    names = ["drug", "event", "event_type"] + [
        c for c in table.column_names if c not in ("drug", "event", "event_type")
    ]
    meta["n_rows"] = table.num_rows
    return ScreenResult(table.select(names), meta)


def screen_store(
    store: FaersStore,
    spec: SignalSpec,
    products: ProductDictionary,
    topics: TopicSet,
    *,
    exclude_probable_duplicates: bool = False,
    progress: Progress | None = None,
) -> ScreenResult:
    """Screen the de-duplicated FAERS store: every CGT product (or every drug) against PTs
    and CGT safety topics. The prior is fitted on all pairs of the database."""
    meta = _base_metadata(spec)
    snapshot = store.query(
        "SELECT count(*) AS files, max(imported_at) AS last_import, "
        "string_agg(sha256, ',' ORDER BY sha256) AS shas FROM source_file"
    ).to_pylist()[0]
    meta["data"] = {
        "source": "faers_store",
        "path": str(store.path),
        "files": snapshot["files"],
        "last_import": str(snapshot["last_import"]),
        "snapshot_sha256": hashlib.sha256((snapshot["shas"] or "").encode()).hexdigest(),
        "quarters": [
            r["quarter"] for r in store.query("SELECT DISTINCT quarter FROM source_file ORDER BY 1").to_pylist()
        ],
    }
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

    engine = DuckDBEngine(store.con)
    meta["attrition"] = _attrition(store, spec, exclude_probable_duplicates)
    tables = []
    for level in spec.event_levels:
        sql = analysis_relation_sql(spec.roles, level=level, exclude_duplicates=exclude_probable_duplicates)
        relation = engine.relation_from_sql(sql)
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
                      JOIN drug g ON g.primaryid = r.primaryid AND upper(trim(g.role_cod)) IN ({roles})
                      JOIN reac x ON x.primaryid = r.primaryid AND nullif(trim(x.pt), '') IS NOT NULL
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
    path: Path, spec: SignalSpec, *, engine: CountingEngine | None = None, progress: Progress | None = None
) -> ScreenResult:
    """Screen every (drug, event) pair of a long-format file (one row per report, drug and
    event; the openEBGM layout ``id, var1, var2, strat...`` is accepted)."""
    path = Path(path)
    engine = engine or DuckDBEngine()
    meta = _base_metadata(spec)
    meta["data"] = {"source": "long_file", "path": str(path), "sha256": _file_sha256(path)}
    relation = engine.relation_from_file(path, strata=spec.strata)
    table = _score_level(engine, relation, spec, "pt", meta, progress=progress)
    if progress:
        progress("done", 2, 2)
    return _finish([table], meta)


def screen_counts_file(path: Path, spec: SignalSpec) -> ScreenResult:
    """Score a table of 2x2 counts (``drug, event, a, b, c, d`` per row; CSV or Parquet)."""
    path = Path(path)
    con = duckdb.connect()
    reader = "read_parquet" if path.suffix.lower() == ".parquet" else "read_csv"
    try:
        raw = con.sql(f"SELECT * FROM {reader}('{path.as_posix()}')").to_arrow_table()
    except duckdb.Error as exc:
        raise ParseError(f"cannot be read as a table: {exc}", file=str(path)) from exc
    lower = {c.lower(): c for c in raw.column_names}
    missing = [c for c in ("drug", "a", "b", "c", "d") if c not in lower]
    if missing:
        raise ParseError(
            f"missing column(s) {', '.join(missing)}; the file has {', '.join(raw.column_names)}",
            file=str(path),
            line=1,
        )
    a = raw.column(lower["a"]).to_numpy(zero_copy_only=False).astype(np.float64)
    b, c, d = (raw.column(lower[k]).to_numpy(zero_copy_only=False).astype(np.float64) for k in "bcd")
    event = raw.column(lower["event"]) if "event" in lower else pa.array(["event"] * raw.num_rows)
    counts = pa.table(
        {
            "drug": pa.array(raw.column(lower["drug"]).to_pylist(), pa.string()),
            "event": pa.array([str(x) for x in event.to_pylist()], pa.string()),
            "n": a,
            "n_drug": a + b,
            "n_event": a + c,
            "n_total": a + b + c + d,
        }
    )
    meta = _base_metadata(spec)
    meta["data"] = {"source": "counts_file", "path": str(path), "sha256": _file_sha256(path)}
    table, prior = score_pairs(counts, spec)
    if prior is not None:
        meta["priors"]["pt"] = prior.to_dict()
    table = table.append_column("event_type", pa.array(["pt"] * table.num_rows, pa.string()))
    return _finish([table], meta)
