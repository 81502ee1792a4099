"""Time to onset from the FAERS store: event date (DEMO) minus therapy start (THER) per pair.

One row per (report, suspect product, preferred term). FAERS dates are ``YYYYMMDD``, ``YYYYMM``
or ``YYYY``; a date known to the month or year is the interval of the days it may be, and the
onset is the interval ``[max(0, event_first - start_last), event_last - start_first]`` in days
(interval-censored in the Weibull fit). Both dates to the day give an exact onset; an onset of
0 days (the event on the day of the infusion) enters the fit as the interval (0, 1].

Where a product has several THER rows in a report, the earliest start (first exposure) is
used. FAERS has one event date per report, not per reaction, so every PT of a report gets the
same onset. Every pair is kept with a status and none is dropped: ``ok`` or the reason it has no
onset (``no_start_date``, ``no_event_date``, ``bad_start_date``, ``bad_event_date``,
``event_before_start``), and the counts per status reconcile with the pairs read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cgtvigil._validation import Problems, param_message
from cgtvigil.errors import ConvergenceError, ValidationError
from cgtvigil.model import ProductDictionary
from cgtvigil.signals import OnsetComparison, WeibullOnsetFitter, compare_onsets
from cgtvigil.store import FaersStore, check_derived_tables

__all__ = ["ONSET_STATUSES", "OnsetIntervals", "class_onset_comparison", "onset_intervals", "onset_summary"]

ONSET_STATUSES = ("ok", "no_start_date", "no_event_date", "bad_start_date", "bad_event_date", "event_before_start")


def _date_bounds(raw: str, tag: str) -> str:
    """SQL for the first and last day a raw FAERS date may be, and its precision."""
    s = f"nullif(trim({raw}), '')"
    first = f"""CASE WHEN regexp_full_match({s}, '[0-9]{{8}}') THEN try_strptime({s}, '%Y%m%d')
                  WHEN regexp_full_match({s}, '[0-9]{{6}}') THEN try_strptime({s} || '01', '%Y%m%d')
                  WHEN regexp_full_match({s}, '[0-9]{{4}}') THEN try_strptime({s} || '0101', '%Y%m%d') END"""
    return f"""{s} AS {tag}_raw,
        CASE WHEN year(({first})::DATE) BETWEEN 1900 AND 2100 THEN ({first})::DATE END AS {tag}_first,
        CASE length({s}) WHEN 8 THEN 'day' WHEN 6 THEN 'month' WHEN 4 THEN 'year' END AS {tag}_precision"""


def _last_day(tag: str) -> str:
    return f"""CASE {tag}_precision WHEN 'day' THEN {tag}_first WHEN 'month' THEN last_day({tag}_first)
               WHEN 'year' THEN make_date(year({tag}_first), 12, 31) END"""


@dataclass(frozen=True)
class OnsetIntervals:
    """Onset intervals per (report, product, PT) and the count of pairs per status."""

    table: pa.Table
    attrition: dict[str, int]

    def usable(self) -> pa.Table:
        return self.table.filter(pc.equal(self.table["status"], "ok"))


def _filters(column: str, values: list[str] | None, params: list[Any]) -> str:
    if not values:
        return ""
    params.extend(v.strip().upper() for v in values)
    return f" AND {column} IN ({', '.join('?' for _ in values)})"


def onset_intervals(
    store: FaersStore,
    *,
    roles: tuple[str, ...] = ("PS", "SS"),
    drugs: list[str] | None = None,
    events: list[str] | None = None,
) -> OnsetIntervals:
    """Onset interval of every (report, suspect product, PT) pair in one DuckDB query.

    ``drugs`` (drug labels of the drug map or product ids) and ``events`` (PT names) restrict
    the pairs; matching ignores case.
    """
    bad = [r for r in roles if not r.isalnum()]
    if bad or not roles:
        raise ValidationError(
            [param_message("roles", "onset_intervals", "FAERS role codes (PS, SS, C, I)", list(roles))]
        )
    check_derived_tables(store)
    params: list[Any] = []
    roles_sql = ", ".join(f"'{r.upper()}'" for r in roles)
    where = ""
    if drugs:
        marks = ", ".join("?" for _ in drugs)
        where = f" AND (upper(m.drug) IN ({marks}) OR upper(m.product_id) IN ({marks}))"
        params.extend([d.strip().upper() for d in drugs] * 2)
    where += _filters("upper(trim(x.pt))", events, params)
    sql = f"""
    WITH pairs AS (
        SELECT r.primaryid AS report_id, r.caseid, r.quarter, trim(g.drug_seq) AS drug_seq, m.drug,
               m.product_id, upper(trim(x.pt)) AS event, {_date_bounds("r.event_dt", "event")}
        FROM report r
        JOIN drug g ON g.primaryid = r.primaryid AND g.quarter = r.quarter
        JOIN drug_map m ON m.drugname IS NOT DISTINCT FROM g.drugname AND m.prod_ai IS NOT DISTINCT FROM g.prod_ai
        JOIN reac x ON x.primaryid = r.primaryid AND x.quarter = r.quarter
        WHERE NOT r.deleted AND upper(trim(g.role_cod)) IN ({roles_sql}) AND nullif(trim(x.pt), '') IS NOT NULL
              {where}),
    starts AS (
        SELECT primaryid, quarter, trim(dsg_drug_seq) AS drug_seq, {_date_bounds("start_dt", "start")}
        FROM ther),
    joined AS (
        SELECT p.*, s.start_raw, s.start_first, s.start_precision
        FROM pairs p LEFT JOIN starts s
          ON s.primaryid = p.report_id AND s.quarter = p.quarter AND s.drug_seq = p.drug_seq),
    bounded AS (
        SELECT *, {_last_day("start")} AS start_last, {_last_day("event")} AS event_last FROM joined),
    rated AS (
        SELECT *,
          CASE WHEN start_raw IS NULL THEN 'no_start_date'
               WHEN start_first IS NULL THEN 'bad_start_date'
               WHEN event_raw IS NULL THEN 'no_event_date'
               WHEN event_first IS NULL THEN 'bad_event_date'
               WHEN event_last < start_first THEN 'event_before_start'
               ELSE 'ok' END AS status
        FROM bounded)
    SELECT report_id, caseid, drug, product_id, event, start_raw AS start_dt, event_raw AS event_dt,
           CASE WHEN status = 'ok' THEN
             CASE WHEN 'year' IN (start_precision, event_precision) THEN 'year'
                  WHEN 'month' IN (start_precision, event_precision) THEN 'month' ELSE 'day' END END AS precision,
           CASE WHEN status = 'ok' THEN greatest(date_diff('day', start_last, event_first), 0)::DOUBLE END
             AS onset_lower,
           CASE WHEN status = 'ok' THEN date_diff('day', start_first, event_last)::DOUBLE END AS onset_upper,
           status
    FROM rated
    QUALIFY row_number() OVER (
        PARTITION BY report_id, drug, event
        ORDER BY status = 'ok' DESC, start_first NULLS LAST, drug_seq) = 1
    ORDER BY drug, event, report_id
    """
    table = store.query(sql, params)
    counts = dict.fromkeys(ONSET_STATUSES, 0)
    for row in table.group_by("status").aggregate([("status", "count")]).to_pylist():
        counts[row["status"]] = int(row["status_count"])
    counts["pairs"] = table.num_rows
    return OnsetIntervals(table, counts)


def _fit_bounds(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fit intervals: an onset of 0 days (the event on the start day) is the interval (0, 1]."""
    return lo, np.where((lo == 0) & (hi == 0), 1.0, hi)


def _bounds_of(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    lo = np.asarray(table["onset_lower"].to_numpy(zero_copy_only=False), dtype=np.float64)
    hi = np.asarray(table["onset_upper"].to_numpy(zero_copy_only=False), dtype=np.float64)
    return _fit_bounds(lo, hi)


_SUMMARY_FIELDS = (
    "n_exact", "n_censored", "shape", "shape_lower", "shape_upper", "scale", "median_days",
)  # fmt: skip


def _codes(column: pa.ChunkedArray) -> np.ndarray:
    codes = pc.dictionary_encode(column.combine_chunks()).indices
    return np.asarray(pc.fill_null(codes, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def onset_summary(intervals: OnsetIntervals, *, min_onsets: int = 3, alpha: float = 0.05) -> pa.Table:
    """One row per (drug, PT): pairs, usable onsets, the Weibull fit and its hazard reading.

    A pair with fewer than ``min_onsets`` usable onsets, or whose fit has no finite estimate,
    gets no fit and a ``note`` saying why. The counting is vectorised; only the pairs with
    enough onsets are fitted.
    """
    problems = Problems()
    if not isinstance(min_onsets, int) or isinstance(min_onsets, bool) or min_onsets < 3:
        problems.add(param_message("min_onsets", "onset_summary", "an integer >= 3", min_onsets))
    problems.raise_if_any()
    table = intervals.table.sort_by([("drug", "ascending"), ("event", "ascending")])
    n = table.num_rows
    drug_codes, event_codes = _codes(table["drug"]), _codes(table["event"])
    change = np.flatnonzero((np.diff(drug_codes) != 0) | (np.diff(event_codes) != 0)) + 1 if n else np.zeros(0, int)
    starts = np.concatenate([[0], change]).astype(np.int64) if n else np.zeros(0, np.int64)
    ends = np.concatenate([starts[1:], [n]]).astype(np.int64) if n else np.zeros(0, np.int64)
    ok = np.asarray(pc.equal(table["status"], "ok").to_numpy(zero_copy_only=False), dtype=bool)
    ok_cum = np.concatenate([[0], np.cumsum(ok)])
    onsets = ok_cum[ends] - ok_cum[starts]
    cols: dict[str, list[Any]] = {k: [None] * len(starts) for k in (*_SUMMARY_FIELDS, "hazard")}
    notes = [f"fewer than {min_onsets} usable onsets" if o < min_onsets else "" for o in onsets.tolist()]
    lower = np.asarray(table["onset_lower"].to_numpy(zero_copy_only=False), dtype=np.float64)
    upper = np.asarray(table["onset_upper"].to_numpy(zero_copy_only=False), dtype=np.float64)
    for g in np.flatnonzero(onsets >= min_onsets).tolist():
        rows = np.arange(starts[g], ends[g])[ok[starts[g] : ends[g]]]
        lo, hi = lower[rows], upper[rows]
        try:
            fit = WeibullOnsetFitter(alpha=alpha).fit(*_fit_bounds(lo, hi)).summary()
        except ConvergenceError as exc:
            notes[g] = str(exc).split(": ", 1)[-1]
            continue
        for k in (*_SUMMARY_FIELDS, "hazard"):
            cols[k][g] = fit[k]
    schema = pa.schema(
        [("drug", pa.string()), ("event", pa.string()), ("pairs", pa.int64()), ("onsets", pa.int64())]
        + [(k, pa.int64() if k.startswith("n_") else pa.float64()) for k in _SUMMARY_FIELDS]
        + [("hazard", pa.string()), ("note", pa.string())]
    )
    data = {
        "drug": table["drug"].take(pa.array(starts)),
        "event": table["event"].take(pa.array(starts)),
        "pairs": pa.array(ends - starts, pa.int64()),
        "onsets": pa.array(onsets, pa.int64()),
        **{k: pa.array(v, schema.field(k).type) for k, v in cols.items()},
        "note": pa.array(notes, pa.string()),
    }
    return pa.table(data, schema=schema)


def class_onset_comparison(
    intervals: OnsetIntervals,
    products: ProductDictionary,
    product_class: str,
    event: str,
    *,
    min_onsets: int = 3,
    alpha: float = 0.05,
) -> tuple[OnsetComparison, dict[str, int]]:
    """Compare the onset of one PT across the products of a class (e.g. 'CD19 CAR-T').

    Returns the comparison (a Weibull per product and the LR test of one common distribution)
    and the usable onsets of every product of the class, including those left out for having
    fewer than ``min_onsets``.
    """
    members = {p.id: p.brand for p in products.products if p.product_class.lower() == product_class.strip().lower()}
    if not members:
        classes = sorted({p.product_class for p in products.products})
        raise ValidationError(
            [param_message("product_class", "class_onset_comparison", f"one of {classes}", product_class)]
        )
    ok = intervals.usable()
    ok = ok.filter(pc.equal(ok["event"], event.strip().upper()))
    counts: dict[str, int] = {}
    groups: dict[str, tuple[Any, Any]] = {}
    for pid, brand in sorted(members.items()):
        part = ok.filter(pc.equal(ok["product_id"], pid))
        counts[brand] = part.num_rows
        if part.num_rows >= min_onsets:
            groups[brand] = _bounds_of(part)
    if len(groups) < 2:
        raise ValidationError(
            [
                f"class_onset_comparison needs 2 or more products of {product_class!r} with {min_onsets} or more "
                f"usable onsets of {event!r}. Usable onsets per product: {counts}."
            ]
        )
    return compare_onsets(groups, alpha=alpha), counts
