"""The feature SQL of the learned ranking against its first, straightforward formulation.

``pair_features`` builds compact tables of integer ids and flags before the report x drug x
event join (issue 14: the first formulation carried text keys and every report field through
that join and peaked at 3.9 GB at 1M reports). The first formulation is kept here, as it was
committed (``_rows_sql`` and ``_describe_sql`` of commit 98ccdf5), and both run on the real
FAERS samples (PT level, OMOP outcome groups, a cut-off) and on SYNTHETIC quarters. Counts,
names, label statuses and the fitted prior must be equal and every statistic equal to 1e-12
relative. (Before the engine summed the stratified expected counts exactly, their last bit
varied with DuckDB's thread order and the prior fit, whose likelihood is flat on these samples,
turned that into EBGM 1e-4 to 1e-3 apart between two runs of the same code.)"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from cgtvigil.engine import DuckDBEngine
from cgtvigil.model import SignalSpec
from cgtvigil.screening import ingest_faers, load_reference_set, pair_features
from cgtvigil.screening._features import _UNKNOWN_INDICATIONS, _assemble, _expected_terms, _quarter_index
from cgtvigil.screening._onset import _date_bounds, _last_day
from cgtvigil.screening._scoring import score_pairs
from cgtvigil.store import FaersStore, load_products, load_safety_info, load_topics
from cgtvigil.synth import SynthConfig, generate_faers


def _old_rows_sql(roles: tuple[str, ...], grouped: bool, until: str | None) -> str:
    """One row per (report, suspect drug row, event) with what the features need."""
    roles_sql = ", ".join(f"'{r}'" for r in roles)
    event = "grp.grp" if grouped else "upper(trim(x.pt))"
    join_group = "JOIN _fx_group grp ON grp.pt_key = upper(trim(x.pt))" if grouped else ""
    cut = f"AND r.quarter <= '{until}'" if until else ""
    unknown = ", ".join(f"'{u}'" for u in _UNKNOWN_INDICATIONS)
    return f"""
    WITH starts AS (
        SELECT primaryid, quarter, trim(dsg_drug_seq) AS drug_seq, {_date_bounds("start_dt", "start")}
        FROM ther),
    start_days AS (
        SELECT primaryid, quarter, drug_seq, min(start_first) AS start_first, min({_last_day("start")}) AS start_last
        FROM starts WHERE start_first IS NOT NULL GROUP BY ALL),
    indi_known AS (
        SELECT primaryid, quarter, trim(indi_drug_seq) AS drug_seq,
               bool_or(nullif(trim(indi_pt), '') IS NOT NULL AND upper(trim(indi_pt)) NOT IN ({unknown})) AS known
        FROM indi GROUP BY ALL),
    events AS (
        SELECT primaryid, quarter, {_date_bounds("event_dt", "event")} FROM report)
    SELECT r.primaryid AS report_id, r.quarter, m.drug, m.product_id, {event} AS event,
           r.age_band, r.sex, r.report_year,
           upper(trim(g.dechal)) = 'Y' AS dechal_pos, upper(trim(g.rechal)) = 'Y' AS rechal_pos,
           (nullif(trim(g.dose_amt), '') IS NOT NULL
             OR coalesce(upper(trim(g.dose_vbm)), 'UNK') NOT IN ('', 'UNK', 'UNKNOWN')) AS has_dose,
           coalesce(ik.known, FALSE) AS has_indication,
           rsi.pt_key IS NOT NULL AS rsi_expected, coalesce(rsi.confirmed, FALSE) AS rsi_confirmed,
           sd.start_first IS NOT NULL AS has_start,
           CASE WHEN sd.start_first IS NOT NULL AND ev.event_first IS NOT NULL
                     AND date_diff('day', sd.start_first, {_last_day("ev.event")}) >= 0
                THEN greatest((date_diff('day', sd.start_first, ev.event_first)
                               + date_diff('day', sd.start_last, {_last_day("ev.event")})) / 2.0, 0) END AS onset_days
    FROM report r
    JOIN drug g ON g.primaryid = r.primaryid AND g.quarter = r.quarter
    JOIN drug_map m ON m.drugname IS NOT DISTINCT FROM g.drugname AND m.prod_ai IS NOT DISTINCT FROM g.prod_ai
    JOIN reac x ON x.primaryid = r.primaryid AND x.quarter = r.quarter
    {join_group}
    LEFT JOIN start_days sd ON sd.primaryid = r.primaryid AND sd.quarter = r.quarter AND sd.drug_seq = trim(g.drug_seq)
    LEFT JOIN indi_known ik ON ik.primaryid = r.primaryid AND ik.quarter = r.quarter AND ik.drug_seq = trim(g.drug_seq)
    LEFT JOIN events ev ON ev.primaryid = r.primaryid AND ev.quarter = r.quarter
    LEFT JOIN _fx_rsi rsi ON rsi.product_id = m.product_id AND rsi.pt_key = upper(trim(x.pt))
    WHERE NOT r.deleted AND upper(trim(g.role_cod)) IN ({roles_sql}) AND nullif(trim(x.pt), '') IS NOT NULL {cut}
    """


def _old_describe_sql(last_quarter: int) -> str:
    """Per (drug, event) aggregates over its reports (report-level fields from ``report``/``outc``)."""
    return f"""
    WITH per AS (
        SELECT report_id, quarter, drug, event, any_value(product_id) AS product_id,
               bool_or(dechal_pos) AS dechal_pos, bool_or(rechal_pos) AS rechal_pos,
               bool_or(has_dose) AS has_dose, bool_or(has_indication) AS has_indication,
               bool_or(has_start) AS has_start, min(onset_days) AS onset_days,
               bool_or(rsi_expected) AS rsi_expected, bool_or(rsi_confirmed) AS rsi_confirmed
        FROM _fx_rows GROUP BY report_id, quarter, drug, event),
    outc_r AS (
        SELECT primaryid, quarter, TRUE AS serious, bool_or(upper(trim(outc_cod)) = 'DE') AS fatal
        FROM outc WHERE nullif(trim(outc_cod), '') IS NOT NULL GROUP BY ALL),
    rep AS (
        SELECT r.primaryid, r.quarter, {_quarter_index("r.quarter")} AS qi,
               nullif(upper(trim(coalesce(nullif(trim(r.reporter_country), ''), r.occr_country))), '') AS country,
               upper(trim(r.occp_cod)) IN ('MD', 'PH', 'HP', 'OT') AS hp,
               nullif(trim(r.occp_cod), '') IS NOT NULL AS has_reporter,
               r.age_years IS NOT NULL AS has_age, r.sex <> 'UNK' AS has_sex,
               nullif(trim(r.event_dt), '') IS NOT NULL AS has_event_dt,
               coalesce(o.serious, FALSE) AS serious, coalesce(o.fatal, FALSE) AS fatal
        FROM report r LEFT JOIN outc_r o ON o.primaryid = r.primaryid AND o.quarter = r.quarter
        WHERE r.primaryid IN (SELECT DISTINCT report_id FROM _fx_rows))
    SELECT p.drug, p.event, any_value(p.product_id) AS product_id, count(*) AS reports,
           count(*) FILTER (WHERE rep.qi > {last_quarter} - 4) AS n_recent,
           count(*) FILTER (WHERE rep.qi <= {last_quarter} - 4 AND rep.qi > {last_quarter} - 8) AS n_before,
           avg(rep.serious::INT) AS serious_share, avg(rep.fatal::INT) AS fatal_share,
           avg(rep.hp::INT) AS hp_share, count(DISTINCT rep.country) AS countries,
           avg((rep.has_age::INT + rep.has_sex::INT + rep.has_event_dt::INT + p.has_start::INT + p.has_dose::INT
                + p.has_indication::INT + (rep.country IS NOT NULL)::INT + rep.has_reporter::INT) / 8.0)
             AS completeness,
           count(*) FILTER (WHERE p.dechal_pos) AS n_dechallenge,
           count(*) FILTER (WHERE p.rechal_pos) AS n_rechallenge,
           count(p.onset_days) AS onsets, stddev_samp(ln(1 + p.onset_days)) AS onset_sd,
           bool_or(p.rsi_expected) AS rsi_expected, bool_or(p.rsi_confirmed) AS rsi_confirmed
    FROM per p JOIN rep ON rep.primaryid = p.report_id AND rep.quarter = p.quarter
    GROUP BY p.drug, p.event
    """


def first_formulation(
    store: FaersStore, *, event_groups: dict[str, list[str]] | None = None, until: str | None = None
) -> tuple[pa.Table, dict, list[str]]:
    """The feature table, prior and masked drugs as the first formulation computed them."""
    spec = SignalSpec(strata=("age_band", "sex", "report_year")).model_copy(
        update={"methods": ("prr", "ror", "ic", "ebgm"), "min_count": 1, "products_only": False}
    )
    topics = load_topics()
    safety_info = load_safety_info(topics=topics)
    con = store.con
    if event_groups is not None:
        rows = [(pt.strip().upper(), g) for g, pts in event_groups.items() for pt in pts]
        con.register("_fx_group_in", pa.table({"pt_key": [r[0] for r in rows], "grp": [r[1] for r in rows]}))
        con.execute("CREATE OR REPLACE TEMP TABLE _fx_group AS SELECT DISTINCT pt_key, grp FROM _fx_group_in")
        con.unregister("_fx_group_in")
    con.register("_fx_rsi", _expected_terms(safety_info, topics))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _fx_rows AS {_old_rows_sql(spec.roles, event_groups is not None, until)}"
    )
    con.unregister("_fx_rsi")
    engine = DuckDBEngine(con)
    columns = "report_id, drug, event, age_band, sex, report_year"
    counts = engine.count_pairs(engine.relation_from_sql(f"SELECT {columns} FROM _fx_rows"), strata=spec.strata)
    scored, prior = score_pairs(counts, spec)
    top = [
        r[0]
        for r in con.execute(
            "SELECT drug FROM _fx_rows GROUP BY drug ORDER BY count(DISTINCT report_id) DESC, drug LIMIT 10"
        ).fetchall()
    ]
    con.register("_fx_top", pa.table({"drug": pa.array(top, pa.string())}))
    masked = engine.count_pairs(
        engine.relation_from_sql(
            f"SELECT {columns} FROM _fx_rows WHERE report_id NOT IN "
            "(SELECT report_id FROM _fx_rows WHERE drug IN (SELECT drug FROM _fx_top))"
        )
    )
    con.unregister("_fx_top")
    last = until or con.execute("SELECT max(quarter) FROM _fx_rows").fetchall()[0][0]
    described = con.sql(_old_describe_sql(int(last[:4]) * 4 + int(last[-1]))).to_arrow_table()
    con.execute("DROP TABLE IF EXISTS _fx_rows; DROP TABLE IF EXISTS _fx_group")
    table = _assemble(scored, masked, described, top, load_products(), [p.product_id for p in safety_info.products])
    return table, prior.to_dict() if prior is not None else {}, top


def assert_same(before: pa.Table, after: pa.Table) -> None:
    key = [("drug", "ascending"), ("event", "ascending")]
    before, after = before.sort_by(key), after.sort_by(key)
    assert before.column_names == after.column_names
    assert before.num_rows == after.num_rows > 0
    for name in before.column_names:
        b, a = before.column(name), after.column(name)
        if not pa.types.is_floating(b.type):
            assert b.to_pylist() == a.to_pylist(), name
            continue
        xb, xa = b.to_numpy(zero_copy_only=False), a.to_numpy(zero_copy_only=False)
        np.testing.assert_allclose(xa, xb, rtol=1e-12, atol=1e-12, err_msg=name)


def assert_same_prior(before: dict, after: dict) -> None:
    for key in ("alpha1", "beta1", "alpha2", "beta2", "p", "log_likelihood"):
        assert after[key] == pytest.approx(before[key], rel=1e-12), key
    for key in ("fitted", "squashed", "n_pairs"):
        assert after[key] == before[key], key


def test_features_equal_the_first_formulation_on_the_real_faers_samples(
    tmp_path: Path, faers_samples: Path, shared: Path
) -> None:
    groups = load_reference_set(shared / "reference_sets" / "ohdsi" / "omopReferenceSet.csv").event_groups
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with FaersStore(tmp_path / "s.duckdb") as store:
            ingest_faers([faers_samples / "faers_2017q2", faers_samples / "aers_2004q1"], store, load_products())
            for kw in ({}, {"event_groups": groups}, {"until": "2010Q1"}):
                before, prior, top = first_formulation(store, **kw)  # type: ignore[arg-type]
                after = pair_features(store, load_products(), **kw)  # type: ignore[arg-type]
                assert_same(before, after.table)
                assert after.metadata["masked_drugs"] == top
                assert_same_prior(prior, after.metadata["prior"])
                # the temporary tables are gone: the store is as it was
                left = store.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
                assert not [t for (t,) in left if t.startswith("_fx")]


def test_features_equal_the_first_formulation_on_synthetic_quarters(tmp_path: Path) -> None:
    quarters = tuple(f"{y}Q{q}" for y in (2023, 2024) for q in range(1, 5))
    cfg = SynthConfig(
        reports_per_quarter=1500, quarters=quarters, seed=11, n_drugs=150, n_tail_events=300, n_planted=15
    )
    synth = generate_faers(tmp_path / "zips", load_products(), cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with FaersStore(tmp_path / "s.duckdb") as store:
            ingest_faers(synth.zips, store, load_products())
            for kw in ({}, {"until": "2023Q4"}):
                before, prior, top = first_formulation(store, **kw)  # type: ignore[arg-type]
                after = pair_features(store, load_products(), **kw)  # type: ignore[arg-type]
                assert_same(before, after.table)
                assert after.metadata["masked_drugs"] == top
                assert_same_prior(prior, after.metadata["prior"])
