"""Features of every (drug, event) pair for the learned ranking, computed from the FAERS store
in DuckDB (vigiRank-like: disproportionality, recency, spread, completeness, seriousness,
reporter, dechallenge, time-to-onset concentration, class and masking views, label status).

The store is read once into compact tables of integer ids and flags (one row per report, per
report and suspect drug, per report and event, per report, drug and event), then three SQL
passes through the counting engine: the pair counts (and so the EBGM, IC and ROR of the
screen), the counts without the most reported drugs (masking), and the descriptive aggregates
per pair. Nothing is looped over in Python.

Definitions (per pair, over its de-duplicated, non-deleted reports with the drug as suspect):

========================  =================================================================
``log2_eb05``             log2 of EB05 (MGPS, fitted on every pair of the database)
``ic025``                 lower 95% limit of the IC (BCPNN)
``log_ror_lower``         ln of the lower 95% limit of the ROR
``log_n``                 ln of the number of reports
``recent_share``          share of the reports in the last 4 quarters (of the data or the cut-off)
``trend``                 ln((n last 4 quarters + 0.5) / (n the 4 quarters before + 0.5))
``serious_share``         share with a FAERS outcome code (every OUTC code is a seriousness code)
``fatal_share``           share with outcome DE
``hp_share``              share reported by a health professional (occp_cod MD, PH, HP, OT)
``log_countries``         ln of the number of reporter countries (unknown not counted; 0 if none)
``completeness``          mean of 8 fields present: age, sex, event date, therapy start, dose,
                          indication, country, reporter type
``dechallenge_pos``       ln(1 + reports with a positive dechallenge of the drug)
``rechallenge_pos``       ln(1 + reports with a positive rechallenge of the drug)
``onset_concentration``   1 / (1 + SD of ln(1 + onset days)) over the usable onsets (interval
                          midpoints, as in screening._onset); 0 with fewer than 3 onsets
``class_log2_eb05``       the highest log2 EB05 of the same event among the other products of
                          the drug's class (CD19 CAR-T, BCMA CAR-T, AAV, ...); 0 for no class
``masked_log_ror_lower``  ln ROR lower limit with every report of the ``masking_top`` most
                          reported drugs removed (the drug's own value when it is one of them)
``label_status``          +1 the event is expected for the product in the reference safety
                          information (RSI: a listed PT, or a PT of a listed safety topic; for
                          an event group, any of its PTs), -1 the product has RSI and the event
                          is not in it, 0 the drug has no RSI (every drug outside the list)
========================  =================================================================

Every share and the completeness are shrunk towards their mean over all the database's pairs
(weighted by reports) by ``PSEUDO_REPORTS`` pseudo-reports, (k + 5 p0) / (n + 5), and the onset
concentration towards 0 by onsets / (onsets + 5): one complete, fatal report is not yet a
pattern, and a model trained on well-reported pairs must not read it as one.

A feature that cannot be computed (EB05 of 0, a ROR lower limit of 0) is floored (log of 1e-3)
rather than left missing, so every pair has every feature. FAERS has no narratives and no
machine-readable label, so the label status comes from the RSI list (the shipped, versioned
``reference_safety_information.json`` through ``store.load_safety_info``, or a deployment's
own): its version and its entries not yet checked against the current label (``confirmed =
False``) go into the metadata, and the ``rsi_status`` column says "expected (unconfirmed)" where a
pair is expected only through such entries.

The time-indexed mode (``until``) keeps only cases whose analysed (latest loaded) version is of
that quarter or earlier: no information from after the cut-off enters, at the price of losing
cases that were followed up later.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cgtvigil._validation import param_message
from cgtvigil.engine import DuckDBEngine
from cgtvigil.errors import ValidationError
from cgtvigil.model import ProductDictionary, ReferenceSafetyInformation, SignalSpec, TopicSet, spec_hash
from cgtvigil.screening._onset import _date_bounds, _last_day
from cgtvigil.screening._scoring import score_pairs
from cgtvigil.signals import ContingencyTables, ror
from cgtvigil.store import FaersStore, check_derived_tables, load_safety_info, load_topics, loaded_snapshot

__all__ = ["FEATURE_NAMES", "PairFeatures", "pair_features"]

FEATURE_NAMES: tuple[str, ...] = (
    "log2_eb05", "ic025", "log_ror_lower", "log_n", "recent_share", "trend", "serious_share",
    "fatal_share", "hp_share", "log_countries", "completeness", "dechallenge_pos", "rechallenge_pos",
    "onset_concentration", "class_log2_eb05", "masked_log_ror_lower", "label_status",
)  # fmt: skip

_QUARTER = re.compile(r"\d{4}Q[1-4]")
_FLOOR = 1e-3
PSEUDO_REPORTS = 5.0
_UNKNOWN_INDICATIONS = ("PRODUCT USED FOR UNKNOWN INDICATION", "UNKNOWN INDICATION", "UNKNOWN")
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PairFeatures:
    """One row per (drug, event): the counts, the screen's statistics and every feature."""

    table: pa.Table
    metadata: dict[str, Any] = field(default_factory=dict)

    def matrix(self, names: Iterable[str] = FEATURE_NAMES) -> np.ndarray:
        return np.column_stack([self.table.column(n).to_numpy(zero_copy_only=False) for n in names]).astype(float)


def _quarter_index(expr: str) -> str:
    return f"(TRY_CAST(substr({expr}, 1, 4) AS INTEGER) * 4 + TRY_CAST(substr({expr}, 6, 1) AS INTEGER))"


def _build_sql(roles: tuple[str, ...], grouped: bool, until: str | None) -> list[str]:
    """Statements building the compact tables every pass reads (integers and flags only).

    Text keys become integers once: ``rid`` per report row and ``pid`` per report id
    (``_fx_rep``), ``did`` per drug label (``_fx_drug``), ``eid`` per event (``_fx_ev``). Each
    report-level field is computed once per report (``_fx_rep``), each drug-level field once per
    report and suspect drug (``_fx_rd``), the events once per report (``_fx_re``), and
    ``_fx_per`` holds one row per (report, drug, event) with what the descriptive pass needs.
    Carrying text and every report field through the report x drug x event join instead took
    the peak memory of the feature run to 3.9 GB at 1M reports."""
    roles_sql = ", ".join(f"'{r}'" for r in roles)
    cut = f"AND r.quarter <= '{until}'" if until else ""
    unknown = ", ".join(f"'{u}'" for u in _UNKNOWN_INDICATIONS)
    if grouped:  # events are the groups; the label status still looks at each PT (kid)
        event_dict = (
            "SELECT (row_number() OVER (ORDER BY grp))::INTEGER AS eid, grp AS event FROM _fx_group GROUP BY grp"
        )
        pt_dict = "SELECT (row_number() OVER (ORDER BY pt_key))::INTEGER AS kid, pt_key FROM _fx_rsi GROUP BY pt_key"
        events = """
        SELECT DISTINCT r.rid, ev.eid, k.kid
        FROM reac x JOIN _fx_rep r ON r.primaryid = x.primaryid AND r.quarter = x.quarter
        JOIN _fx_group grp ON grp.pt_key = upper(trim(x.pt)) JOIN _fx_ev ev ON ev.event = grp.grp
        LEFT JOIN _fx_ptk k ON k.pt_key = upper(trim(x.pt))
        WHERE nullif(trim(x.pt), '') IS NOT NULL"""
    else:
        event_dict = """SELECT (row_number() OVER (ORDER BY event))::INTEGER AS eid, event
            FROM (SELECT upper(trim(pt)) AS event FROM reac WHERE nullif(trim(pt), '') IS NOT NULL GROUP BY ALL)"""
        pt_dict = "SELECT eid AS kid, event AS pt_key FROM _fx_ev"
        events = """
        SELECT DISTINCT r.rid, ev.eid, ev.eid AS kid
        FROM reac x JOIN _fx_rep r ON r.primaryid = x.primaryid AND r.quarter = x.quarter
        JOIN _fx_ev ev ON ev.event = upper(trim(x.pt))
        WHERE nullif(trim(x.pt), '') IS NOT NULL"""
    return [
        f"""CREATE OR REPLACE TEMP TABLE _fx_rep AS
        WITH outc_r AS (
            SELECT primaryid, quarter, TRUE AS serious, bool_or(upper(trim(outc_cod)) = 'DE') AS fatal
            FROM outc WHERE nullif(trim(outc_cod), '') IS NOT NULL GROUP BY ALL),
        r AS (
            SELECT r.primaryid, r.quarter, r.age_band, r.sex, r.report_year, r.age_years, r.occp_cod,
                   nullif(upper(trim(coalesce(nullif(trim(r.reporter_country), ''), r.occr_country))), '') AS country,
                   nullif(trim(r.event_dt), '') IS NOT NULL AS has_event_dt,
                   {_date_bounds("r.event_dt", "event")}
            FROM report r WHERE NOT r.deleted {cut})
        SELECT (row_number() OVER ())::INTEGER AS rid, (dense_rank() OVER (ORDER BY r.primaryid))::INTEGER AS pid,
               r.primaryid, r.quarter, ({_quarter_index("r.quarter")})::INTEGER AS qi,
               r.age_band, r.sex, r.report_year,
               CASE WHEN r.country IS NOT NULL THEN (dense_rank() OVER (ORDER BY r.country))::INTEGER END AS cid,
               upper(trim(r.occp_cod)) IN ('MD', 'PH', 'HP', 'OT') AS hp,
               nullif(trim(r.occp_cod), '') IS NOT NULL AS has_reporter,
               r.age_years IS NOT NULL AS has_age, r.sex <> 'UNK' AS has_sex, r.has_event_dt,
               coalesce(o.serious, FALSE) AS serious, coalesce(o.fatal, FALSE) AS fatal,
               r.event_first, {_last_day("r.event")} AS event_last
        FROM r LEFT JOIN outc_r o ON o.primaryid = r.primaryid AND o.quarter = r.quarter""",
        f"CREATE OR REPLACE TEMP TABLE _fx_ev AS {event_dict}",
        f"CREATE OR REPLACE TEMP TABLE _fx_ptk AS {pt_dict}",
        """CREATE OR REPLACE TEMP TABLE _fx_rsik AS
        SELECT r.product_id, k.kid, r.confirmed FROM _fx_rsi r JOIN _fx_ptk k USING (pt_key)""",
        """CREATE OR REPLACE TEMP TABLE _fx_drug AS
        SELECT (row_number() OVER (ORDER BY drug))::INTEGER AS did, drug FROM drug_map GROUP BY drug""",
        f"""CREATE OR REPLACE TEMP TABLE _fx_rd AS
        WITH starts AS (
            SELECT primaryid, quarter, trim(dsg_drug_seq) AS drug_seq, {_date_bounds("start_dt", "start")}
            FROM ther),
        start_days AS (
            SELECT primaryid, quarter, drug_seq, min(start_first) AS start_first,
                   min({_last_day("start")}) AS start_last
            FROM starts WHERE start_first IS NOT NULL GROUP BY ALL),
        indi_known AS (
            SELECT primaryid, quarter, trim(indi_drug_seq) AS drug_seq,
                   bool_or(nullif(trim(indi_pt), '') IS NOT NULL AND upper(trim(indi_pt)) NOT IN ({unknown})) AS known
            FROM indi GROUP BY ALL),
        dm AS (SELECT m.drugname, m.prod_ai, d.did, m.product_id FROM drug_map m JOIN _fx_drug d USING (drug)),
        rows AS (
            SELECT r.rid, r.pid, m.did, m.product_id,
                   upper(trim(g.dechal)) = 'Y' AS dechal_pos, upper(trim(g.rechal)) = 'Y' AS rechal_pos,
                   (nullif(trim(g.dose_amt), '') IS NOT NULL
                     OR coalesce(upper(trim(g.dose_vbm)), 'UNK') NOT IN ('', 'UNK', 'UNKNOWN')) AS has_dose,
                   coalesce(ik.known, FALSE) AS has_indication,
                   sd.start_first IS NOT NULL AS has_start,
                   CASE WHEN sd.start_first IS NOT NULL AND r.event_first IS NOT NULL
                             AND date_diff('day', sd.start_first, r.event_last) >= 0
                        THEN greatest((date_diff('day', sd.start_first, r.event_first)
                                       + date_diff('day', sd.start_last, r.event_last)) / 2.0, 0) END AS onset_days
            FROM drug g
            JOIN _fx_rep r ON g.primaryid = r.primaryid AND g.quarter = r.quarter
            JOIN dm m ON m.drugname IS NOT DISTINCT FROM g.drugname AND m.prod_ai IS NOT DISTINCT FROM g.prod_ai
            LEFT JOIN start_days sd
              ON sd.primaryid = g.primaryid AND sd.quarter = g.quarter AND sd.drug_seq = trim(g.drug_seq)
            LEFT JOIN indi_known ik
              ON ik.primaryid = g.primaryid AND ik.quarter = g.quarter AND ik.drug_seq = trim(g.drug_seq)
            WHERE upper(trim(g.role_cod)) IN ({roles_sql}))
        SELECT rid, pid, did, product_id, bool_or(dechal_pos) AS dechal_pos, bool_or(rechal_pos) AS rechal_pos,
               bool_or(has_dose) AS has_dose, bool_or(has_indication) AS has_indication,
               bool_or(has_start) AS has_start, min(onset_days) AS onset_days
        FROM rows GROUP BY rid, pid, did, product_id""",
        f"CREATE OR REPLACE TEMP TABLE _fx_re AS {events}",
        """CREATE OR REPLACE TEMP TABLE _fx_per AS
        SELECT d.rid, any_value(d.pid) AS pid, d.did, e.eid,
               bool_or(d.dechal_pos) AS dechal_pos, bool_or(d.rechal_pos) AS rechal_pos,
               bool_or(d.has_dose) AS has_dose, bool_or(d.has_indication) AS has_indication,
               bool_or(d.has_start) AS has_start, min(d.onset_days) AS onset_days,
               bool_or(k.kid IS NOT NULL) AS rsi_expected, bool_or(coalesce(k.confirmed, FALSE)) AS rsi_confirmed
        FROM _fx_rd d JOIN _fx_re e USING (rid)
        LEFT JOIN _fx_rsik k ON k.product_id = d.product_id AND k.kid = e.kid
        GROUP BY d.rid, d.did, e.eid""",
    ]


_TEMP_TABLES = ("_fx_per", "_fx_re", "_fx_rd", "_fx_drug", "_fx_rsik", "_fx_ptk", "_fx_ev", "_fx_rep", "_fx_group")


def _describe_sql(last_quarter: int) -> str:
    """Per (drug, event) aggregates over its reports, from ``_fx_per`` and ``_fx_rep``."""
    return f"""
    WITH agg AS (
        SELECT p.did, p.eid, count(*) AS reports,
               count(*) FILTER (WHERE rep.qi > {last_quarter} - 4) AS n_recent,
               count(*) FILTER (WHERE rep.qi <= {last_quarter} - 4 AND rep.qi > {last_quarter} - 8) AS n_before,
               avg(rep.serious::INT) AS serious_share, avg(rep.fatal::INT) AS fatal_share,
               avg(rep.hp::INT) AS hp_share, count(DISTINCT rep.cid) AS countries,
               avg((rep.has_age::INT + rep.has_sex::INT + rep.has_event_dt::INT + p.has_start::INT + p.has_dose::INT
                    + p.has_indication::INT + (rep.cid IS NOT NULL)::INT + rep.has_reporter::INT) / 8.0)
                 AS completeness,
               count(*) FILTER (WHERE p.dechal_pos) AS n_dechallenge,
               count(*) FILTER (WHERE p.rechal_pos) AS n_rechallenge,
               count(p.onset_days) AS onsets, stddev_samp(ln(1 + p.onset_days)) AS onset_sd,
               bool_or(p.rsi_expected) AS rsi_expected, bool_or(p.rsi_confirmed) AS rsi_confirmed
        FROM _fx_per p JOIN _fx_rep rep USING (rid)
        GROUP BY p.did, p.eid),
    product AS (SELECT did, any_value(product_id) AS product_id FROM _fx_rd GROUP BY did)
    SELECT d.drug, e.event, product.product_id, agg.* EXCLUDE (did, eid)
    FROM agg JOIN _fx_drug d USING (did) JOIN _fx_ev e USING (eid) LEFT JOIN product USING (did)
    """


def _named(con: duckdb.DuckDBPyConnection, counts: pa.Table) -> pa.Table:
    """Pair counts keyed by drug and event ids, with the names instead, in (drug, event) order."""
    con.register("_fx_counts", counts)
    try:
        return con.sql(
            """SELECT d.drug, e.event, c.* EXCLUDE (drug, event)
               FROM _fx_counts c JOIN _fx_drug d ON d.did = c.drug JOIN _fx_ev e ON e.eid = c.event
               ORDER BY d.did, e.eid"""
        ).to_arrow_table()
    finally:
        con.unregister("_fx_counts")


def _safe_log(x: np.ndarray, base: float = np.e) -> np.ndarray:
    x = np.where(np.isfinite(x), x, _FLOOR)
    out: np.ndarray = np.log(np.maximum(x, _FLOOR)) / np.log(base)
    return out


def pair_features(
    store: FaersStore,
    products: ProductDictionary,
    *,
    spec: SignalSpec | None = None,
    event_groups: Mapping[str, Iterable[str]] | None = None,
    until: str | None = None,
    masking_top: int = 10,
    safety_info: ReferenceSafetyInformation | None = None,
    topics: TopicSet | None = None,
    progress: Progress | None = None,
    memory_limit: str | None = None,
) -> PairFeatures:
    """Features of every (drug, event) pair of the store (all drugs, not only CGT products).

    ``event_groups`` maps a group name (e.g. an OMOP outcome) to its PT names: events are then
    the groups, a report counted once per group. ``until`` (a quarter such as ``2024Q2``) is the
    cut-off of the time-indexed mode. ``spec`` sets roles, strata and the MGPS settings; its
    methods are always the four (the features need EBGM, IC and ROR). ``safety_info`` (default:
    the shipped RSI) and ``topics`` (default: the shipped safety topics) decide the label status.
    ``memory_limit`` is DuckDB's while the features are computed (None: the store's own, which
    is restored after), so that a large store spills instead of growing."""
    spec = (spec or SignalSpec(strata=("age_band", "sex", "report_year"))).model_copy(
        update={"methods": ("prr", "ror", "ic", "ebgm"), "min_count": 1, "products_only": False}
    )
    if until is not None and not _QUARTER.fullmatch(until):
        raise ValidationError([param_message("until", "pair_features", "a quarter such as 2024Q2", until)])
    if not isinstance(masking_top, int) or isinstance(masking_top, bool) or masking_top < 1:
        raise ValidationError([param_message("masking_top", "pair_features", "an integer >= 1", masking_top)])
    check_derived_tables(store)
    topics = topics or load_topics()
    safety_info = safety_info or load_safety_info(topics=topics)
    expected = _expected_terms(safety_info, topics)
    con = store.con
    step = 0

    def tick(label: str) -> None:
        nonlocal step
        if progress:
            progress(label, step, 4)
        step += 1

    tick("reading the reports")
    engine = DuckDBEngine(con)
    with store.limited(memory_limit):
        try:
            return _pair_features(
                store, engine, spec, products, event_groups, until, masking_top, safety_info, expected, tick
            )
        finally:  # the store stays as it was
            con.execute("; ".join(f"DROP TABLE IF EXISTS {t}" for t in _TEMP_TABLES))


def _pair_features(
    store: FaersStore,
    engine: DuckDBEngine,
    spec: SignalSpec,
    products: ProductDictionary,
    event_groups: Mapping[str, Iterable[str]] | None,
    until: str | None,
    masking_top: int,
    safety_info: ReferenceSafetyInformation,
    expected: pa.Table,
    tick: Callable[[str], None],
) -> PairFeatures:
    con = engine.con
    if event_groups is not None:
        rows = [(pt.strip().upper(), g) for g, pts in event_groups.items() for pt in pts]
        con.register("_fx_group_in", pa.table({"pt_key": [r[0] for r in rows], "grp": [r[1] for r in rows]}))
        con.execute("CREATE OR REPLACE TEMP TABLE _fx_group AS SELECT DISTINCT pt_key, grp FROM _fx_group_in")
        con.unregister("_fx_group_in")
    con.register("_fx_rsi", expected)
    try:
        for statement in _build_sql(spec.roles, event_groups is not None, until):
            con.execute(statement)
    finally:
        con.unregister("_fx_rsi")
    counts = _named(
        con,
        engine.count_pairs(
            engine.relation_from_sql(
                "SELECT p.pid AS report_id, p.did AS drug, p.eid AS event, r.age_band, r.sex, r.report_year "
                "FROM _fx_per p JOIN _fx_rep r USING (rid)"
            ),
            strata=spec.strata,
        ),
    )
    if counts.num_rows == 0:
        raise ValidationError(
            [f"{store.path}: no (drug, event) pair to describe: no report has a suspect drug and an event"
             + (f" up to {until}." if until else ".")]
        )  # fmt: skip
    tick(f"scoring {counts.num_rows:,} pairs")
    scored, prior = score_pairs(counts, spec)
    tick("masking the most reported drugs")
    top_ids = con.execute(
        "SELECT p.did, d.drug FROM _fx_per p JOIN _fx_drug d USING (did) GROUP BY p.did, d.drug "
        "ORDER BY count(DISTINCT p.pid) DESC, d.drug LIMIT ?",
        [masking_top],
    ).fetchall()
    top = [r[1] for r in top_ids]
    dids = ", ".join(str(int(r[0])) for r in top_ids) or "NULL"
    masked = _named(
        con,
        engine.count_pairs(
            engine.relation_from_sql(
                "SELECT pid AS report_id, did AS drug, eid AS event FROM _fx_per WHERE pid NOT IN "
                f"(SELECT pid FROM _fx_per WHERE did IN ({dids}))"
            )
        ),
    )
    tick("describing the pairs")
    last = until or con.execute("SELECT max(r.quarter) FROM _fx_rep r SEMI JOIN _fx_per p USING (rid)").fetchall()[0][0]
    last_q = int(last[:4]) * 4 + int(last[-1])
    described = con.sql(_describe_sql(last_q)).to_arrow_table()
    table = _assemble(scored, masked, described, top, products, [p.product_id for p in safety_info.products])
    meta = {
        "spec": spec.model_dump(mode="json"),
        "spec_hash": spec_hash(spec),
        "data": {"path": str(store.path), **loaded_snapshot(store), "until": until, "last_quarter": last},
        "event_level": "groups" if event_groups is not None else "pt",
        "masked_drugs": top,
        "prior": prior.to_dict() if prior is not None else None,
        "features": list(FEATURE_NAMES),
        "reference_safety_information": _rsi_metadata(safety_info, table),
    }
    tick("done")
    return PairFeatures(table, meta)


def _expected_terms(rsi: ReferenceSafetyInformation, topics: TopicSet) -> pa.Table:
    """(product_id, upper-case PT, confirmed) of every expected event, topics expanded to their
    PTs; ``confirmed`` when any RSI entry naming the PT for the product is confirmed."""
    terms = {t.id: t.keys() for t in topics.topics}
    best: dict[tuple[str, str], bool] = {}
    for p in rsi.products:
        for x in p.expected:
            for key in terms.get(x.topic, set()) if x.topic else {str(x.pt).strip().upper()}:
                best[(p.product_id, key)] = best.get((p.product_id, key), False) or x.confirmed
    keys = sorted(best)
    return pa.table({
        "product_id": pa.array([k[0] for k in keys], pa.string()),
        "pt_key": pa.array([k[1] for k in keys], pa.string()),
        "confirmed": pa.array([best[k] for k in keys], pa.bool_()),
    })  # fmt: skip


def _rsi_metadata(rsi: ReferenceSafetyInformation, table: pa.Table) -> dict[str, Any]:
    """The RSI's version, its unconfirmed entries and how many pairs each label status has."""
    counts = {str(r["values"]): int(r["counts"]) for r in pc.value_counts(table.column("rsi_status")).to_pylist()}
    return {
        "version": rsi.version, "notice": rsi.notice, "products": [p.product_id for p in rsi.products],
        "confirmed": all(x.confirmed for p in rsi.products for x in p.expected),
        "unconfirmed": [f"{p.product_id}: {x.topic or x.pt} ({x.source})"
                        for p in rsi.products for x in p.expected if not x.confirmed],
        "pairs": {s: counts.get(s, 0) for s in ("expected", "expected (unconfirmed)", "unexpected", "no RSI")},
    }  # fmt: skip


def _assemble(
    scored: pa.Table,
    masked: pa.Table,
    described: pa.Table,
    top: list[str],
    products: ProductDictionary,
    rsi_products: list[str],
) -> pa.Table:
    """Join the three passes on (drug, event) and derive the features (vectorised)."""
    con = duckdb.connect()
    con.register("s", scored.select(["drug", "event", "n", "expected", "ebgm", "eb05", "ic025", "ror", "ror_lower"]))
    a, n_drug, n_event, n_total = (
        masked.column(c).to_numpy(zero_copy_only=False).astype(float) for c in ("n", "n_drug", "n_event", "n_total")
    )
    m_ror = ror(ContingencyTables.from_counts(a, n_drug - a, n_event - a, n_total - n_drug - n_event + a))
    con.register("m", pa.table({"drug": masked.column("drug"), "event": masked.column("event"), "mror": m_ror.lower}))
    con.register("d", described)
    classes = {p.id: p.product_class for p in products.products}
    con.register("c", pa.table({"product_id": list(classes), "product_class": list(classes.values())}))
    con.register("t", pa.table({"drug": pa.array(top, pa.string())}))
    con.register("rp", pa.table({"product_id": pa.array(rsi_products, pa.string())}))
    joined = con.sql(
        """
        WITH base AS (
            SELECT s.*, d.product_id, c.product_class, d.n_recent, d.n_before, d.serious_share, d.fatal_share,
                   d.hp_share, d.countries, d.completeness, d.n_dechallenge, d.n_rechallenge, d.onsets, d.onset_sd,
                   CASE WHEN s.drug IN (SELECT drug FROM t) THEN s.ror_lower ELSE coalesce(m.mror, s.ror_lower) END
                     AS masked_ror_lower,
                   CASE WHEN d.rsi_expected THEN 1.0 WHEN d.product_id IN (SELECT product_id FROM rp) THEN -1.0
                        ELSE 0.0 END AS label_status,
                   CASE WHEN d.rsi_expected AND d.rsi_confirmed THEN 'expected'
                        WHEN d.rsi_expected THEN 'expected (unconfirmed)'
                        WHEN d.product_id IN (SELECT product_id FROM rp) THEN 'unexpected'
                        ELSE 'no RSI' END AS rsi_status
            FROM s JOIN d USING (drug, event)
            LEFT JOIN m USING (drug, event)
            LEFT JOIN c USING (product_id)),
        cls AS (  -- the best EB05 of the event among the class's other products
            SELECT a.drug, a.event, max(b.eb05) AS class_eb05
            FROM base a JOIN base b ON a.product_class = b.product_class AND a.event = b.event AND a.drug <> b.drug
            GROUP BY a.drug, a.event)
        SELECT base.*, cls.class_eb05 FROM base LEFT JOIN cls USING (drug, event)
        ORDER BY drug, event
        """
    ).to_arrow_table()
    col = {n: joined.column(n).to_numpy(zero_copy_only=False) for n in joined.column_names}
    n = col["n"].astype(float)
    nums = {k: np.asarray(col[k], dtype=float) for k in ("n_recent", "n_before", "onsets")}
    sd = np.asarray(pa.array(col["onset_sd"]).fill_null(np.nan).to_numpy(zero_copy_only=False), dtype=float)
    class_eb05 = np.asarray(pa.array(col["class_eb05"]).fill_null(np.nan).to_numpy(zero_copy_only=False), float)

    def shrunk(share: np.ndarray) -> np.ndarray:
        share = share.astype(float)
        p0 = float((share * n).sum() / n.sum())
        out: np.ndarray = (share * n + PSEUDO_REPORTS * p0) / (n + PSEUDO_REPORTS)
        return out

    onsets = nums["onsets"]
    features = {
        "log2_eb05": _safe_log(col["eb05"].astype(float), 2.0),
        "ic025": col["ic025"].astype(float),
        "log_ror_lower": _safe_log(col["ror_lower"].astype(float)),
        "log_n": np.log(n),
        "recent_share": shrunk(nums["n_recent"] / n),
        "trend": np.log((nums["n_recent"] + 0.5) / (nums["n_before"] + 0.5)),
        "serious_share": shrunk(col["serious_share"]),
        "fatal_share": shrunk(col["fatal_share"]),
        "hp_share": shrunk(col["hp_share"]),
        "log_countries": np.log(np.maximum(col["countries"].astype(float), 1.0)),
        "completeness": shrunk(col["completeness"]),
        "dechallenge_pos": np.log1p(col["n_dechallenge"].astype(float)),
        "rechallenge_pos": np.log1p(col["n_rechallenge"].astype(float)),
        "onset_concentration": np.where(
            (onsets >= 3) & np.isfinite(sd), onsets / (onsets + PSEUDO_REPORTS) / (1 + np.nan_to_num(sd)), 0.0
        ),
        "class_log2_eb05": np.where(np.isfinite(class_eb05), _safe_log(class_eb05, 2.0), 0.0),
        "masked_log_ror_lower": _safe_log(col["masked_ror_lower"].astype(float)),
    }
    features["label_status"] = col["label_status"].astype(float)
    keep = [
        "drug", "event", "product_id", "product_class", "n", "expected", "ebgm", "eb05", "ic025", "ror_lower",
        "rsi_status",
    ]  # fmt: skip
    out = joined.select(keep)
    for name in FEATURE_NAMES:
        if name not in out.column_names:
            out = out.append_column(name, pa.array(features[name], pa.float64()))
    return out
