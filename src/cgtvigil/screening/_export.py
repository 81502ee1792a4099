"""The Parquet export of the FAERS store: the long relation a screen counts, one file per
event level, for a counting engine that does not read the DuckDB store itself (Spark)."""

from __future__ import annotations

from pathlib import Path

from cgtvigil.model import TopicSet
from cgtvigil.store import FaersStore, analysis_relation_sql, check_derived_tables, write_pt_topics

__all__ = ["export_relation", "export_store_parquet"]


def _literal(path: Path) -> str:
    return "'" + path.as_posix().replace("'", "''") + "'"


def export_relation(store: FaersStore, sql: str, path: Path) -> Path:
    """Write the rows of ``sql`` (a query over the store) to one Parquet file; returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with store.guard():
        store.con.execute(f"COPY ({sql}) TO {_literal(path)} (FORMAT parquet, COMPRESSION zstd)")
    return path


def export_store_parquet(
    store: FaersStore,
    folder: Path,
    topics: TopicSet,
    *,
    roles: tuple[str, ...] = ("PS", "SS"),
    levels: tuple[str, ...] = ("pt", "topic"),
    exclude_duplicates: bool = False,
) -> dict[str, Path]:
    """The store's analysis relation (report_id, drug, event, age_band, sex, report_year,
    product_id over de-duplicated, non-deleted cases) as ``folder/<level>.parquet`` per level:
    what ``cgtvigil signals --input`` (or a Spark job on a cluster) reads."""
    check_derived_tables(store)
    if "topic" in levels:
        write_pt_topics(store, topics.pt_to_topics())
    return {
        level: export_relation(
            store,
            analysis_relation_sql(roles, level=level, exclude_duplicates=exclude_duplicates),
            Path(folder) / f"{level}.parquet",
        )
        for level in levels
    }
