"""The store screen's distinct rows (``analysis_distinct_sql``, each side of a report grouped
before the join) are the rows and multiplicities of grouping the analysis relation itself
(``analysis_relation_sql``), the query it replaces inside the DuckDB engine.

Real FDA samples (``shared/data/faers``: FAERS 2017Q2 and AERS 2004Q1). They hold no
probable duplicates, so ten reports are flagged here; three report rows are written twice
(the same primaryid and quarter), which the join multiplies, and two cases are copied into a
second quarter with their drugs and reactions, whose rows are summed; the expected rows are
DuckDB's GROUP BY over the plain join, not anything of ours."""

from __future__ import annotations

from pathlib import Path

import pytest

from cgtvigil.screening import ingest_faers
from cgtvigil.store import (
    FaersStore,
    analysis_distinct_sql,
    analysis_relation_sql,
    load_products,
    load_topics,
    write_pt_topics,
)

ROLES = ("PS", "SS", "C")


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory, faers_samples: Path) -> Path:
    db = tmp_path_factory.mktemp("distinct") / "faers.duckdb"
    zips = [faers_samples / "faers_ascii_2017q2.zip", faers_samples / "aers_ascii_2004q1.zip"]
    with FaersStore(db) as store:
        ingest_faers(zips, store, load_products())
        store.con.execute(
            "UPDATE report SET probable_duplicate = true WHERE primaryid IN "
            "(SELECT primaryid FROM report WHERE NOT deleted ORDER BY primaryid LIMIT 10)"
        )
        store.con.execute("INSERT INTO report SELECT * FROM report WHERE NOT deleted ORDER BY primaryid DESC LIMIT 3")
        # two cases present in a second quarter too, with their drugs and reactions: their rows
        # of both quarters are summed
        for table in ("report", "drug", "reac"):
            store.con.execute(
                f"INSERT INTO {table} SELECT * REPLACE ('2099Q1' AS quarter) FROM {table} WHERE primaryid IN "
                "(SELECT primaryid FROM report WHERE NOT deleted AND NOT probable_duplicate "
                "ORDER BY primaryid LIMIT 2 OFFSET 20)"
            )
    return db


def _rows(store: FaersStore, sql: str) -> list[tuple[object, ...]]:
    return sorted(store.con.execute(sql).fetchall(), key=repr)


def _grouped(store: FaersStore, level: str, exclude: bool) -> list[tuple[object, ...]]:
    relation = analysis_relation_sql(ROLES, level=level, exclude_duplicates=exclude)
    return _rows(store, f"SELECT report_id, drug, event, count(*) AS k FROM ({relation}) GROUP BY ALL")


def _distinct(store: FaersStore, level: str, exclude: bool) -> list[tuple[object, ...]]:
    return _rows(store, analysis_distinct_sql(ROLES, level=level, exclude_duplicates=exclude))


@pytest.mark.parametrize("exclude", [False, True], ids=["all-cases", "no-duplicates"])
@pytest.mark.parametrize("level", ["pt", "topic"])
def test_distinct_rows_equal_grouping_the_relation(store_path: Path, level: str, exclude: bool) -> None:
    with FaersStore(store_path, read_only=True) as store:
        write_pt_topics(store, load_topics().pt_to_topics())
        expected = _grouped(store, level, exclude)
        assert _distinct(store, level, exclude) == expected
        assert len(expected) > (100 if level == "pt" else 0)
        if level == "pt":  # multiplicities above 1 are tested (repeated drugs, the doubled rows)
            assert max(r[3] for r in expected) > 1
        if exclude:
            assert len(expected) < len(_grouped(store, level, False))
