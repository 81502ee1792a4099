"""De-duplicated case view and the analysis relation over the FAERS tables (formats.md §1.5).

``report`` holds one row per case: the latest version (highest ``caseversion``; for legacy
AERS, which has version 0, the latest FDA date and then the highest ISR; ties go to the most
recent quarter, then the last line). FDA-deleted cases stay in storage with ``deleted``.

A case's drugs and reactions are the rows of its chosen version: same ``primaryid`` *and*
same ``quarter`` (a primaryid loaded in two quarters must not pool both copies' rows).

The derived tables (``report``, ``drug_map``) record in ``meta`` the snapshot of the loaded
files they were built from; :func:`check_derived_tables` refuses a store where they do not
match ``source_file`` (an ingest that stopped before it rebuilt them).
"""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa

from cgtvigil.errors import StaleStoreError, StoreError, ValidationError
from cgtvigil.store._faers_store import FaersStore

__all__ = [
    "AGE_BANDS",
    "STORE_STRATA",
    "analysis_distinct_sql",
    "analysis_relation_sql",
    "case_counts",
    "check_derived_tables",
    "derived_tables_current",
    "last_file_id",
    "loaded_snapshot",
    "rebuild_cases",
    "update_cases",
    "write_drug_map",
    "write_pt_topics",
]

_CASES_KEY = "cases_snapshot"
_DRUG_MAP_KEY = "drug_map_snapshot"
_STORE_TABLES = ("meta", "source_file", "demo", "drug", "reac", "deleted_case")


def loaded_snapshot(store: FaersStore) -> dict[str, object]:
    """The snapshot of the loaded files: their number and the SHA-256 of their sorted
    content hashes (the ``snapshot_sha256`` of a screen's metadata)."""
    shas = sorted(r[0] or "" for r in store.con.execute("SELECT sha256 FROM source_file").fetchall())
    return {"files": len(shas), "snapshot_sha256": hashlib.sha256(",".join(shas).encode()).hexdigest()}


def _mark(store: FaersStore, key: str) -> None:
    store.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, json.dumps(loaded_snapshot(store))])


def _unmark(store: FaersStore, key: str) -> None:
    store.execute("DELETE FROM meta WHERE key = ?", [key])


def last_file_id(store: FaersStore) -> int:
    """The highest file id recorded (0 for an empty store): files loaded later have higher ids."""
    return int(store.con.execute("SELECT coalesce(max(file_id), 0) FROM source_file").fetchall()[0][0])


_DERIVED = (("cases", "report", _CASES_KEY, "case view"), ("drug_map", "drug_map", _DRUG_MAP_KEY, "drug map"))


def _tables(store: FaersStore) -> set[str]:
    return {r[0] for r in store.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def _built_and_now(store: FaersStore) -> tuple[dict[str, dict[str, object] | None], dict[str, object]]:
    """The snapshot each derived table was marked with (None: unmarked), by name, and the
    snapshot of the files loaded now."""
    marks = dict(
        store.con.execute("SELECT key, value FROM meta WHERE key IN (?, ?)", [_CASES_KEY, _DRUG_MAP_KEY]).fetchall()
    )
    built = {name: json.loads(marks[key]) if key in marks else None for name, _, key, _ in _DERIVED}
    return built, loaded_snapshot(store)


def derived_tables_current(store: FaersStore) -> dict[str, bool]:
    """Whether ``report`` (key ``cases``) and ``drug_map`` (key ``drug_map``) were built from the
    files loaded now (an ingest that stopped before rebuilding them leaves them stale)."""
    present = _tables(store)
    built, now = _built_and_now(store)
    return {name: table in present and built[name] == now for name, table, _, _ in _DERIVED}


def check_derived_tables(store: FaersStore) -> None:
    """Refuse a store whose case view or drug map was not built from the files now loaded.

    Raises :class:`~cgtvigil.errors.StoreError` when the file is not a FAERS store and
    :class:`~cgtvigil.errors.StaleStoreError` when ``report`` or ``drug_map`` is missing or
    predates the loaded files (re-running the same ingest rebuilds both).
    """
    present = _tables(store)
    lacking = [t for t in _STORE_TABLES if t not in present]
    if lacking:
        raise StoreError(
            f"{store.path}: not a cgtvigil FAERS store (no table {', '.join(lacking)}); "
            f"load it with `cgtvigil ingest faers ... --db {store.path}`."
        )
    rerun = f"re-run `cgtvigil ingest faers ... --db {store.path}` with the same files to rebuild it"
    marked, now = _built_and_now(store)
    for name, table, _, what in _DERIVED:
        if table not in present:
            raise StaleStoreError(
                f"{store.path}: the store has no {what} (table '{table}'): an ingest did not finish; {rerun}."
            )
        built = marked[name]
        if built != now:
            since = f"built from {built['files']} loaded files" if built else "not marked as built"
            raise StaleStoreError(
                f"{store.path}: the {what} is stale ({since}, {now['files']} loaded now: an ingest did not "
                f"finish); {rerun}."
            )


AGE_BANDS = ("0-17", "18-64", "65+", "unknown")

_AGE_YEARS = """
CASE upper(trim(age_cod))
  WHEN 'YR' THEN a WHEN 'DEC' THEN a * 10 WHEN 'MON' THEN a / 12 WHEN 'WK' THEN a / 52.1775
  WHEN 'DY' THEN a / 365.25 WHEN 'HR' THEN a / 8766 ELSE NULL END"""


def _cases_sql(where: str) -> str:
    """The query of ``report``'s rows: the chosen version of each case of ``demo`` (``where``
    restricts the cases, over the columns of demo, whose ``case_key`` is stored)."""
    groups = "WHERE (primaryid, quarter) IN (SELECT (primaryid, quarter) FROM d)" if where else ""
    return _CASES_SQL.format(where=where, groups=groups, age=_AGE_YEARS)


_CASES_SQL = """
        WITH d AS (
            SELECT *, TRY_CAST(caseversion AS INTEGER) AS version,
                   TRY_CAST(nullif(trim(age), '') AS DOUBLE) AS a
            FROM demo {where}),
        ranked AS (
            SELECT *, row_number() OVER (
                PARTITION BY case_key
                ORDER BY version DESC NULLS LAST,
                         CASE WHEN legacy THEN fda_dt END DESC NULLS LAST,
                         quarter DESC,
                         TRY_CAST(ltrim(primaryid, 'L') AS BIGINT) DESC NULLS LAST,
                         line DESC) AS rn,
                count(*) OVER (PARTITION BY case_key) AS n_versions_loaded
            FROM d),
        -- rows per (primaryid, quarter) over all of demo, not only the cases chosen again
        g AS (
            SELECT primaryid, quarter, count(*) AS n_same_primaryid FROM demo {groups} GROUP BY primaryid, quarter)
        SELECT ranked.primaryid, case_key AS caseid, version AS caseversion, ranked.quarter, legacy, file_id, line,
               event_dt, fda_dt, init_fda_dt, age, age_cod, sex AS sex_raw, reporter_country,
               occr_country, occp_cod, n_versions_loaded, n_same_primaryid > 1 AS dup_primaryid,
               ({age}) AS age_years,
               CASE WHEN ({age}) IS NULL OR ({age}) > 125 THEN 'unknown'
                    WHEN ({age}) < 18 THEN '0-17' WHEN ({age}) < 65 THEN '18-64'
                    ELSE '65+' END AS age_band,
               CASE upper(trim(sex)) WHEN 'M' THEN 'M' WHEN 'F' THEN 'F' ELSE 'UNK' END AS sex,
               substr(coalesce(nullif(trim(init_fda_dt), ''), fda_dt), 1, 4) AS report_year,
               case_key IN (SELECT caseid FROM deleted_case) AS deleted,
               FALSE AS probable_duplicate
        FROM ranked JOIN g ON g.primaryid IS NOT DISTINCT FROM ranked.primaryid AND g.quarter = ranked.quarter
        WHERE rn = 1
"""


def rebuild_cases(store: FaersStore, *, flag_duplicates: bool = False) -> dict[str, int]:
    """(Re)build the ``report`` table from every loaded DEMO row; return case counts.

    The snapshot marker is removed first and written last, so a run stopped in between
    leaves a store that :func:`check_derived_tables` refuses."""
    _unmark(store, _CASES_KEY)
    store.execute("CREATE OR REPLACE TABLE report AS " + _cases_sql(""))
    if flag_duplicates:
        _flag_probable_duplicates(store)
    _mark(store, _CASES_KEY)
    return case_counts(store)


def update_cases(store: FaersStore, since_file_id: int, *, flag_duplicates: bool = False) -> dict[str, int]:
    """Bring a current ``report`` up to date with the files loaded after ``since_file_id``: only
    the cases they touch are chosen again (a new version, a row sharing a primaryid and quarter
    with one, a deletion), so a new quarter costs about one quarter, not the whole history. The
    result equals :func:`rebuild_cases`; call it only when ``report`` was current before those
    files (:func:`derived_tables_current`). The probable-duplicate flags, which compare a case
    with every other, are computed over the whole table again when asked for."""
    _unmark(store, _CASES_KEY)
    # The new rows are found by file id (files are appended in id order, so DuckDB skips the
    # row groups of older files) and their case keys are stored: neither reads the history.
    # The rows sharing a primaryid and quarter with a new row belong to the new rows' quarters.
    quarters = [
        r[0]
        for r in store.con.execute(
            "SELECT DISTINCT quarter FROM source_file WHERE file_id > ? AND table_name = 'demo' ORDER BY 1",
            [since_file_id],
        ).fetchall()
    ]
    same_group = ""
    if quarters:
        marks = ", ".join("?" for _ in quarters)
        same_group = f"""
        UNION SELECT d.case_key FROM demo d
              SEMI JOIN (SELECT DISTINCT primaryid, quarter FROM new) n
              ON n.primaryid = d.primaryid AND n.quarter = d.quarter
              WHERE d.quarter IN ({marks})"""
    store.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _touched AS
        WITH new AS (SELECT primaryid, quarter, case_key FROM demo WHERE file_id > ?)
        SELECT case_key FROM new{same_group}
        UNION SELECT caseid FROM deleted_case WHERE file_id > ?
        """,
        [since_file_id, *quarters, since_file_id],
    )
    try:
        store.execute("DELETE FROM report WHERE caseid IN (SELECT case_key FROM _touched)")
        store.execute("INSERT INTO report " + _cases_sql("WHERE case_key IN (SELECT case_key FROM _touched)"))
    finally:
        store.execute("DROP TABLE IF EXISTS _touched")
    store.execute("UPDATE report SET probable_duplicate = FALSE WHERE probable_duplicate")
    if flag_duplicates:
        _flag_probable_duplicates(store)
    _mark(store, _CASES_KEY)
    return case_counts(store)


def _flag_probable_duplicates(store: FaersStore) -> None:
    """Flag (not delete) cases that share event date, age, sex, country, suspect products
    and reactions with a case of a higher caseid."""
    store.execute(
        """
        UPDATE report SET probable_duplicate = TRUE WHERE caseid IN (
            WITH keyed AS (
                SELECT r.caseid, r.event_dt, r.age, r.sex, r.reporter_country,
                  (SELECT string_agg(DISTINCT upper(trim(g.drugname)), '|' ORDER BY upper(trim(g.drugname)))
                     FROM drug g WHERE g.primaryid = r.primaryid AND g.quarter = r.quarter
                       AND g.role_cod IN ('PS', 'SS')) AS drugs,
                  (SELECT string_agg(DISTINCT upper(trim(x.pt)), '|' ORDER BY upper(trim(x.pt)))
                     FROM reac x WHERE x.primaryid = r.primaryid AND x.quarter = r.quarter) AS pts
                FROM report r WHERE NOT r.deleted
                  AND nullif(trim(r.event_dt), '') IS NOT NULL AND r.age_years IS NOT NULL
                  AND r.sex <> 'UNK' AND nullif(trim(r.reporter_country), '') IS NOT NULL),
            grouped AS (
                SELECT caseid, row_number() OVER (
                    PARTITION BY event_dt, age, sex, reporter_country, drugs, pts
                    ORDER BY TRY_CAST(caseid AS BIGINT) DESC) AS k
                FROM keyed WHERE drugs IS NOT NULL AND pts IS NOT NULL)
            SELECT caseid FROM grouped WHERE k > 1)
        """
    )


def case_counts(store: FaersStore) -> dict[str, int]:
    """DEMO rows and the case view's counts (``cases``: its rows, one per case key of DEMO)."""
    row = store.query(
        """SELECT (SELECT count(*) FROM demo) AS demo_rows,
                  count(*) AS cases,
                  count(*) FILTER (WHERE NOT deleted) AS cases_after_dedup,
                  count(*) FILTER (WHERE deleted) AS deleted_cases,
                  count(*) FILTER (WHERE probable_duplicate AND NOT deleted) AS probable_duplicates,
                  count(*) FILTER (WHERE dup_primaryid) AS dup_primaryid
           FROM report"""
    ).to_pylist()[0]
    return {k: int(v or 0) for k, v in row.items()}


def write_drug_map(store: FaersStore, mapping: pa.Table, *, add: bool = False) -> None:
    """Replace the drug-name map: (drugname, prod_ai) -> drug label, product_id, method; or,
    with ``add``, add the rows of ``mapping`` (names new since the map was current).

    The map must then cover the drug names now loaded; it is marked with that snapshot."""
    _unmark(store, _DRUG_MAP_KEY)
    store.con.register("_map", mapping)
    try:
        if add:
            store.execute("INSERT INTO drug_map BY NAME SELECT * FROM _map")
        else:
            store.execute("CREATE OR REPLACE TABLE drug_map AS SELECT * FROM _map")
    finally:
        store.con.unregister("_map")
    _mark(store, _DRUG_MAP_KEY)


def write_pt_topics(store: FaersStore, rows: list[tuple[str, str]]) -> None:
    """Replace the PT-name -> topic table used for topic-level screening."""
    table = pa.table({"pt_key": [r[0] for r in rows], "topic": [r[1] for r in rows]})
    store.con.register("_pt", table)
    try:
        store.execute("CREATE OR REPLACE TEMP TABLE pt_topic AS SELECT * FROM _pt")
    finally:
        store.con.unregister("_pt")


# Stratum columns of the analysis relation (Mantel-Haenszel expected counts over the store).
STORE_STRATA: tuple[str, ...] = ("age_band", "sex", "report_year")


def _roles_sql(roles: tuple[str, ...]) -> str:
    bad = [r for r in roles if not r.isalnum()]
    if bad or not roles:
        raise ValidationError(
            [f"The 'roles' parameter must hold FAERS role codes (PS, SS, C, I). Got {list(roles)!r}."]
        )
    return ", ".join(f"'{r.upper()}'" for r in roles)


def _event_sql(level: str) -> tuple[str, str]:
    """The event expression over ``reac x`` at a level, and the join it needs."""
    if level == "pt":
        return "upper(trim(x.pt))", ""
    return "t.topic", "JOIN pt_topic t ON t.pt_key = upper(trim(x.pt))"


def analysis_relation_sql(roles: tuple[str, ...], *, level: str = "pt", exclude_duplicates: bool = False) -> str:
    """SQL of the long relation (report_id, drug, event, age_band, sex, report_year,
    product_id) over de-duplicated, non-deleted cases. It is a view body, so the role codes
    are validated and inlined rather than bound."""
    roles_sql = _roles_sql(roles)
    event, topic_join = _event_sql(level)
    dup = "AND NOT r.probable_duplicate" if exclude_duplicates else ""
    return f"""
        SELECT r.primaryid AS report_id, m.drug AS drug, {event} AS event,
               r.age_band, r.sex, r.report_year, m.product_id
        FROM report r
        JOIN drug g ON g.primaryid = r.primaryid AND g.quarter = r.quarter
        JOIN drug_map m ON m.drugname IS NOT DISTINCT FROM g.drugname AND m.prod_ai IS NOT DISTINCT FROM g.prod_ai
        JOIN reac x ON x.primaryid = r.primaryid AND x.quarter = r.quarter
        {topic_join}
        WHERE NOT r.deleted {dup} AND upper(trim(g.role_cod)) IN ({roles_sql})
          AND nullif(trim(x.pt), '') IS NOT NULL"""


def analysis_distinct_sql(roles: tuple[str, ...], *, level: str = "pt", exclude_duplicates: bool = False) -> str:
    """SQL of the distinct (report_id, drug, event) rows of :func:`analysis_relation_sql`
    with their multiplicity ``k``: the same rows and counts as grouping that relation, but
    each side of the report is grouped on its own before the join (a case's drugs times its
    events), so the join never holds the report x drug x reaction rows at once. Over all of
    FAERS that is what keeps the store screen within a memory limit."""
    roles_sql = _roles_sql(roles)
    event, topic_join = _event_sql(level)
    dup = "AND NOT probable_duplicate" if exclude_duplicates else ""
    # the join of the three sides gives each (case, quarter, drug, event) once; only a
    # primaryid present in two quarters needs its rows summed, so the join of all the others
    # streams into the result without a hash table of every row
    joined = "FROM r JOIN a USING (primaryid, quarter) JOIN b USING (primaryid, quarter)"
    return f"""
        WITH r AS MATERIALIZED (
                SELECT primaryid, quarter, count(*) AS k, count(*) OVER (PARTITION BY primaryid) > 1 AS repeated
                FROM report WHERE NOT deleted {dup} GROUP BY primaryid, quarter),
             a AS MATERIALIZED (
                SELECT g.primaryid, g.quarter, m.drug, count(*) AS k
                FROM drug g
                JOIN drug_map m ON m.drugname IS NOT DISTINCT FROM g.drugname
                               AND m.prod_ai IS NOT DISTINCT FROM g.prod_ai
                WHERE upper(trim(g.role_cod)) IN ({roles_sql})
                  AND (g.primaryid, g.quarter) IN (SELECT (primaryid, quarter) FROM r)
                GROUP BY ALL),
             b AS MATERIALIZED (
                SELECT x.primaryid, x.quarter, {event} AS event, count(*) AS k
                FROM reac x {topic_join}
                WHERE nullif(trim(x.pt), '') IS NOT NULL
                  AND (x.primaryid, x.quarter) IN (SELECT (primaryid, quarter) FROM r)
                GROUP BY ALL)
        SELECT r.primaryid AS report_id, a.drug, b.event, (r.k * a.k * b.k)::BIGINT AS k
        {joined} WHERE NOT r.repeated
        UNION ALL
        SELECT r.primaryid AS report_id, a.drug, b.event, sum(r.k * a.k * b.k)::BIGINT AS k
        {joined} WHERE r.repeated
        GROUP BY ALL"""
