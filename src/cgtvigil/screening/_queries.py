"""Query services of the screening area (issue 11): the signals table (filters, search, sort
both ways, paging, CSV of exactly what is filtered), the case drill-down (count and paging),
the statistic by quarter, the product profile and the registry aggregates (small cells
suppressed). They take a :class:`cgtvigil.store.Scope` and return typed view models; the HTML
pages and the JSON API both call them, so neither filters by role itself."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.errors import NotFoundError, NotInScopeError, ValidationError
from cgtvigil.model import ProductDictionary
from cgtvigil.privacy import suppress_small_cells
from cgtvigil.store import AlertRow, ObservationRow, Scope, TreatmentRow, product_condition

__all__ = [
    "CASE_PAGE_ROWS",
    "MAX_PAGE_ROWS",
    "SIGNAL_COLUMNS",
    "SMALL_CELL",
    "SORT_KEYS",
    "CasePage",
    "CaseRow",
    "ProductEvent",
    "ProductProfile",
    "QuarterStatistic",
    "RegistryAggregates",
    "RegistryRow",
    "ScreenCache",
    "SignalFilters",
    "SignalPage",
    "SignalPoint",
    "SignalRow",
    "case_page",
    "product_profile",
    "registry_aggregates",
    "signal_csv",
    "signal_page",
    "signal_points",
    "statistic_by_quarter",
]

SORT_KEYS = ("eb05", "n", "ic025", "ror_lower", "prr", "ebgm", "expected", "drug", "event", "priority")
MAX_PAGE_ROWS = 1000
CASE_PAGE_ROWS = 100
SMALL_CELL = 5  # registry aggregates: counts below this are suppressed
SIGNAL_COLUMNS = ("drug", "event_type", "event", "n", "expected", "prr", "ror_lower", "ic025", "ebgm", "eb05")
# Added by `cgtvigil rank predict` (a learned priority, 1 = review first, with its explanation).
PRIORITY_COLUMNS = ("priority", "priority_score", "priority_explanation")


T = TypeVar("T")


class ScreenCache:
    """The screen result, read once per file version, with each sort order (an index per sort
    key and direction, made on first use) and the last few filtered selections kept, so that a
    request takes one page of rows instead of sorting or copying the table."""

    SELECTIONS = 8  # filtered selections kept (paging through one filter reuses its selection)

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._orders: dict[tuple[str, bool], pa.Array] = {}
        self._selections: OrderedDict[tuple[object, ...], pa.Array] = OrderedDict()
        self._derived: OrderedDict[tuple[object, ...], Any] = OrderedDict()
        self.table: pa.Table | None = None
        self.labels: pa.Array | None = None
        self.meta: dict[str, Any] = {}
        self.products: list[str] = []
        self.present: frozenset[str] = frozenset()
        self.topic_names: dict[str, str] = {}
        self.rule_names: list[str] = []

    def _load(self) -> None:
        stamp = self.path.stat().st_mtime
        if stamp == self._stamp:
            return
        table = pq.read_table(self.path).combine_chunks()
        for i, field in enumerate(table.schema):  # names sort and search as plain strings
            if pa.types.is_dictionary(field.type):
                table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
        self.meta = json.loads((table.schema.metadata or {}).get(b"cgtvigil", b"{}"))
        self.table = table
        self.products = sorted(pc.unique(table.column("drug")).to_pylist())
        self.present = frozenset(self.products)
        self.topic_names = self.meta.get("dictionaries", {}).get("topic_names", {})
        self.rule_names = [c[4:] for c in table.column_names if c.startswith("sdr_")]
        events = table.column("event").combine_chunks()
        names = pc.take(pa.array(list(self.topic_names.values()), pa.string()),
                        pc.index_in(events, value_set=pa.array(list(self.topic_names), pa.string())))  # fmt: skip
        is_topic = pc.equal(table.column("event_type").combine_chunks(), "topic")
        self.labels = pc.if_else(pc.and_(is_topic, pc.is_valid(names)), names, events)  # what search matches
        self._orders, self._selections, self._derived = {}, OrderedDict(), OrderedDict()
        self._stamp = stamp

    def _order(self, key: str, descending: bool) -> pa.Array:
        assert self.table is not None
        if key not in self.table.column_names:  # a screen without a learned priority
            key = "eb05"
        if (key, descending) not in self._orders:
            self._orders[(key, descending)] = pc.sort_indices(
                self.table, sort_keys=[(key, "descending" if descending else "ascending"), ("drug", "ascending")]
            )
        return self._orders[(key, descending)]

    def current(self) -> pa.Table | None:
        """The table as stored (unsorted), or None without a result file."""
        with self._lock:
            if not self.path.exists():
                return None
            self._load()
            return self.table

    @staticmethod
    def _key(filters: SignalFilters) -> tuple[object, ...]:
        return (filters.sort, filters.order, filters.product, filters.level, filters.rule, filters.q.strip())

    def derived(self, filters: SignalFilters, name: str, build: Callable[[], T]) -> T:
        """``build()``, a value made from the selection of ``filters`` whatever the page (the
        plot of its first rows), kept with the selections for the current file version."""
        with self._lock:
            key = (self._stamp, name, *self._key(filters))
            if key in self._derived:
                self._derived.move_to_end(key)
                return cast(T, self._derived[key])
        value = build()
        with self._lock:
            if self._stamp == key[0]:  # the file did not change meanwhile
                self._derived[key] = value
                if len(self._derived) > self.SELECTIONS:
                    self._derived.popitem(last=False)
        return value

    def select(self, filters: SignalFilters) -> tuple[pa.Table, pa.Array] | None:
        """(table, the row numbers matching ``filters`` in their order), or None without a
        result file. The selection is computed on the unsorted table and kept for reuse."""
        key = self._key(filters)
        with self._lock:
            if not self.path.exists():
                return None
            self._load()
            table, labels = self.table, self.labels
            assert table is not None and labels is not None
            if filters.rule and filters.rule not in self.rule_names:
                raise ValidationError([f"rule: expected one of {', '.join(self.rule_names)}, got {filters.rule!r}"])
            if key in self._selections:
                self._selections.move_to_end(key)
                return table, self._selections[key]
            order = self._order(filters.sort, filters.order == "desc")
            mask = _mask(table, labels, filters)
            rows = order if mask is None else order.take(pc.indices_nonzero(mask.take(order)))
            self._selections[key] = rows
            if len(self._selections) > self.SELECTIONS:
                self._selections.popitem(last=False)
            return table, rows

    def event_label(self, event_type: str, event: str) -> str:
        """A safety topic's name, or the PT itself."""
        return self.topic_names.get(event, event) if event_type == "topic" else event

    def rules_met(self, row: dict[str, Any]) -> list[str]:
        """The names of the signal rules a screen row meets."""
        return [n for n in self.rule_names if row.get(f"sdr_{n}")]


def _mask(table: pa.Table, labels: pa.Array, filters: SignalFilters) -> pa.Array | None:
    """The rows of the (unsorted) table that ``filters`` keep; None when nothing is filtered."""
    masks = []
    if filters.product:
        masks.append(pc.equal(table.column("drug"), filters.product))
    if filters.level:
        masks.append(pc.equal(table.column("event_type"), filters.level))
    if filters.rule:
        masks.append(pc.fill_null(table.column(f"sdr_{filters.rule}"), False))
    if needle := filters.q.strip():
        masks.append(
            pc.or_(
                pc.match_substring(table.column("drug"), needle, ignore_case=True),
                pc.match_substring(labels, needle, ignore_case=True),
            )
        )
    if not masks:
        return None
    mask = masks[0]
    for m in masks[1:]:
        mask = pc.and_(mask, m)
    return mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask


def _require_screens(scope: Scope) -> None:
    if not scope.screens:
        raise NotInScopeError("the spontaneous-report screens are not in this account's scope")


class SignalFilters(BaseModel):
    """What the signals table is filtered and sorted by."""

    product: str = Field("", description="exact product (drug) name as screened", examples=["KYMRIAH"], max_length=500)
    q: str = Field("", description="text searched in the product and the event (PT or topic name)", max_length=200)
    level: Literal["", "pt", "topic"] = ""
    rule: str = Field("", description="only rows meeting this signal rule", examples=["fda_eb05"])
    sort: str = Field("eb05", description=f"one of {', '.join(SORT_KEYS)}")
    order: Literal["desc", "asc"] = "desc"
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(100, ge=1, le=MAX_PAGE_ROWS)


class SignalRow(BaseModel):
    drug: str
    product_id: str | None = Field(None, description="the product dictionary's id when the drug is a CGT product")
    event_type: str
    event: str
    event_label: str
    n: int
    expected: float | None = None
    prr: float | None = None
    ror_lower: float | None = None
    ic025: float | None = None
    ebgm: float | None = None
    eb05: float | None = None
    rules: list[str] = Field(default_factory=list, description="signal rules the row meets")
    priority: int | None = Field(None, description="learned priority, 1 = review first (`cgtvigil rank predict`)")
    priority_score: float | None = Field(None, description="the ranker's probability of a true adverse reaction")
    priority_explanation: str | None = Field(None, description="the features that moved the log-odds most")


class SignalPage(BaseModel):
    filters: SignalFilters
    total: int = Field(description="rows matching the filters")
    page: int
    pages: int
    rows: list[SignalRow]
    products: list[str] = Field(
        description="the screen's products that are in the CGT dictionary (any screened name can be filtered by)"
    )
    rules: list[str] = Field(description="signal rules of the screen")
    spec_hash: str = ""
    created_at: str = ""
    rules_version: str = ""
    ranked: bool = Field(False, description="the screen carries a learned priority")


def _filtered(cache: ScreenCache, scope: Scope, filters: SignalFilters) -> tuple[pa.Table, pa.Array] | None:
    _require_screens(scope)
    if filters.sort not in SORT_KEYS:
        raise ValidationError([f"sort: expected one of {', '.join(SORT_KEYS)}, got {filters.sort!r}"])
    return cache.select(filters)


def _signal_row(cache: ScreenCache, r: dict[str, Any], brand_to_id: dict[str, str]) -> SignalRow:
    return SignalRow(
        **{k: r.get(k) for k in (*SIGNAL_COLUMNS, *PRIORITY_COLUMNS)},
        product_id=brand_to_id.get(r["drug"]),
        event_label=cache.event_label(r["event_type"], r["event"]),
        rules=cache.rules_met(r),
    )


def signal_page(
    cache: ScreenCache, scope: Scope, filters: SignalFilters, products: ProductDictionary
) -> SignalPage | None:
    """One page of the filtered, sorted screen (None when no screen result exists yet)."""
    found = _filtered(cache, scope, filters)
    if found is None:
        return None
    table, selected = found
    total = len(selected)
    pages = max(1, (total + filters.page_size - 1) // filters.page_size)
    if filters.page > pages and total:
        raise NotFoundError(f"page {filters.page} is past the last page ({pages})")
    start = filters.page_size * (filters.page - 1)
    brand_to_id = {p.brand: p.id for p in products.products}
    page = table.take(selected.slice(start, filters.page_size)).to_pylist()
    rows = [_signal_row(cache, r, brand_to_id) for r in page]
    meta = cache.meta
    return SignalPage(
        filters=filters,
        total=total,
        page=filters.page,
        pages=pages,
        rows=rows,
        products=[p.brand for p in products.products if p.brand in cache.present],
        rules=cache.rule_names,
        spec_hash=str(meta.get("spec_hash", "")),
        created_at=str(meta.get("created_at", "")),
        rules_version=str(meta.get("threshold_rules", {}).get("version", "")),
        ranked="priority" in table.column_names,
    )


class SignalPoint(BaseModel):
    """A screen row as the EB05 plot needs it."""

    drug: str
    event_type: str
    event: str
    event_label: str
    n: int
    eb05: float | None = None


def signal_points(cache: ScreenCache, scope: Scope, filters: SignalFilters, limit: int) -> list[SignalPoint]:
    """The first ``limit`` rows of the filtered, sorted screen (for the EB05 plot)."""
    found = _filtered(cache, scope, filters)
    if found is None:
        return []
    table, selected = found
    first = selected.slice(0, limit)
    assert cache.labels is not None
    columns = table.select(["drug", "event_type", "event", "n", "eb05"]).take(first).to_pydict()
    columns["event_label"] = cache.labels.take(first).to_pylist()
    names = list(columns)
    rows = zip(*columns.values(), strict=True)
    return [SignalPoint.model_construct(**dict(zip(names, row, strict=True))) for row in rows]


def signal_csv(cache: ScreenCache, scope: Scope, filters: SignalFilters, products: ProductDictionary) -> str:
    """Every row matching the filters (not only one page), in the chosen order, as CSV."""
    found = _filtered(cache, scope, filters)
    if found is None:
        raise NotFoundError("no screen result is available yet")
    table, selected = found
    ranked = [c for c in PRIORITY_COLUMNS if c in table.column_names]
    columns = [*SIGNAL_COLUMNS, *ranked, *(f"sdr_{n}" for n in cache.rule_names)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in table.select(columns).take(selected).to_pylist():
        writer.writerow(["" if r[c] is None else r[c] for c in columns])
    return out.getvalue()


class CaseRow(BaseModel):
    caseid: str
    caseversion: int | None = None
    quarter: str
    fda_dt: date | None = Field(None, description="FDA's receipt date of this version")
    age_band: str | None = None
    sex: str | None = None
    reporter_country: str | None = None
    drugs: str | None = Field(None, description="suspect products of the case, '; '-separated")
    pts: str | None = Field(None, description="reactions (MedDRA PTs) of the case, '; '-separated")


class QuarterStatistic(BaseModel):
    quarter: str
    statistic: Literal["IC025", "ROR lower 95%"]
    value: float
    n: int


class CasePage(BaseModel):
    drug: str
    event: str
    total: int = Field(description="de-duplicated cases behind the count")
    page: int
    pages: int
    cases: list[CaseRow]
    by_quarter: list[QuarterStatistic]


_CASES_FROM = """
    FROM report r
    WHERE NOT r.deleted AND (r.primaryid, r.quarter) IN (
        SELECT g.primaryid, g.quarter FROM drug g JOIN drug_map m
          ON m.drugname IS NOT DISTINCT FROM g.drugname AND m.prod_ai IS NOT DISTINCT FROM g.prod_ai
         WHERE m.drug = $drug AND g.role_cod IN ('PS', 'SS'))
      AND (r.primaryid, r.quarter) IN (SELECT primaryid, quarter FROM reac WHERE upper(trim(pt)) = $event)
"""


def _fda_date(value: Any) -> date | None:
    text = str(value or "").strip()
    if len(text) == 8 and text.isdigit():
        try:
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            return None
    return None


def case_page(
    db: Path, scope: Scope, drug: str, event: str, page: int = 1, page_size: int = CASE_PAGE_ROWS
) -> CasePage:
    """The de-duplicated cases of one (product, PT) pair, a page at a time with their count,
    and the pair's statistic by quarter; an unknown pair is :class:`NotFoundError`."""
    _require_screens(scope)
    if not db.exists():
        raise NotFoundError("no FAERS store")
    if page < 1 or page_size < 1 or page_size > MAX_PAGE_ROWS:
        raise ValidationError([f"page must be 1 or more and page_size 1 to {MAX_PAGE_ROWS}"])
    params = {"drug": drug, "event": event.strip().upper()}
    con = duckdb.connect(str(db), read_only=True)
    try:
        total = int(con.execute(f"SELECT count(*) {_CASES_FROM}", params).fetchone()[0])  # type: ignore[index]
        if total == 0:
            raise NotFoundError(f"no case reports {drug!r} with {event!r} as a suspect product and reaction")
        pages = (total + page_size - 1) // page_size
        if page > pages:
            raise NotFoundError(f"page {page} is past the last page ({pages})")
        found = con.execute(
            f"""
            SELECT r.caseid, r.caseversion, r.quarter, r.fda_dt, r.age_band, r.sex, r.reporter_country,
                   (SELECT string_agg(DISTINCT m2.drug, '; ') FROM drug g2 JOIN drug_map m2
                      ON m2.drugname IS NOT DISTINCT FROM g2.drugname AND m2.prod_ai IS NOT DISTINCT FROM g2.prod_ai
                     WHERE g2.primaryid = r.primaryid AND g2.quarter = r.quarter
                       AND g2.role_cod IN ('PS', 'SS')) AS drugs,
                   (SELECT string_agg(DISTINCT x2.pt, '; ') FROM reac x2
                     WHERE x2.primaryid = r.primaryid AND x2.quarter = r.quarter) AS pts
            {_CASES_FROM}
            ORDER BY r.quarter, r.caseid LIMIT {int(page_size)} OFFSET {int(page_size * (page - 1))}
            """,
            params,
        ).fetchall()
        by_quarter = statistic_by_quarter(con, drug, event)
    finally:
        con.close()
    cases = [
        CaseRow(
            caseid=str(c[0]),
            caseversion=int(c[1]) if c[1] is not None and str(c[1]).isdigit() else None,
            quarter=str(c[2]),
            fda_dt=_fda_date(c[3]),
            age_band=c[4],
            sex=c[5],
            reporter_country=c[6],
            drugs=c[7],
            pts=c[8],
        )
        for c in found
    ]
    return CasePage(drug=drug, event=event, total=total, page=page, pages=pages, cases=cases, by_quarter=by_quarter)


def statistic_by_quarter(con: duckdb.DuckDBPyConnection, drug: str, event: str) -> list[QuarterStatistic]:
    """IC025 and the ROR lower bound of one pair on the data available at the end of each
    quarter (cumulative, de-duplicated cases, suspect roles, crude expected counts)."""
    from cgtvigil.signals import ContingencyTables, information_component, ror

    counts = con.execute(
        """
        WITH l AS (
            SELECT DISTINCT r.primaryid, r.quarter, m.drug, upper(trim(x.pt)) AS event
            FROM report r JOIN drug g ON g.primaryid = r.primaryid AND g.quarter = r.quarter
            JOIN drug_map m ON m.drugname IS NOT DISTINCT FROM g.drugname
                            AND m.prod_ai IS NOT DISTINCT FROM g.prod_ai
            JOIN reac x ON x.primaryid = r.primaryid AND x.quarter = r.quarter
            WHERE NOT r.deleted AND g.role_cod IN ('PS', 'SS')),
        q AS (SELECT DISTINCT quarter FROM l)
        SELECT q.quarter,
               (SELECT count(DISTINCT primaryid) FROM l WHERE l.quarter <= q.quarter),
               (SELECT count(DISTINCT primaryid) FROM l WHERE l.quarter <= q.quarter AND l.drug = $1),
               (SELECT count(DISTINCT primaryid) FROM l WHERE l.quarter <= q.quarter AND l.event = $2),
               (SELECT count(DISTINCT primaryid) FROM l
                 WHERE l.quarter <= q.quarter AND l.drug = $1 AND l.event = $2)
        FROM q ORDER BY q.quarter
        """,
        [drug, event.strip().upper()],
    ).fetchall()
    out: list[QuarterStatistic] = []
    for quarter, total, n_drug, n_event, n in counts:
        if not n:
            continue
        t = ContingencyTables.from_counts([n], [n_drug - n], [n_event - n], [total - n_drug - n_event + n])
        ic = float(information_component([n], t.expected).lower[0])
        out.append(QuarterStatistic(quarter=quarter, statistic="IC025", value=ic, n=n))
        out.append(QuarterStatistic(quarter=quarter, statistic="ROR lower 95%", value=float(ror(t).lower[0]), n=n))
    return out


class ProductEvent(BaseModel):
    event_type: str
    event: str
    label: str
    n: int
    eb05: float | None = None
    class_eb05: float | None = Field(None, description="mean EB05 of the other products of the class")
    rules: list[str] = Field(default_factory=list)


class ProductProfile(BaseModel):
    id: str
    brand: str
    generic: str
    product_class: str
    modality: str
    vector: str | None = None
    boxed_warnings: list[str] = Field(default_factory=list)
    peers: list[str] = Field(description="other products of the class in the screen")
    events: list[ProductEvent]


def product_profile(
    cache: ScreenCache, scope: Scope, products: ProductDictionary, product_id: str, limit: int = 200
) -> ProductProfile:
    """A product's screen rows against the mean EB05 of its class (topics first)."""
    _require_screens(scope)
    product = products.by_id().get(product_id.lower())
    table = cache.current()
    if product is None or table is None:
        raise NotFoundError(f"no product {product_id!r} in the screen")
    present = cache.present
    peers = [
        p.brand
        for p in products.products
        if p.product_class == product.product_class and p.id != product.id and p.brand in present
    ]
    rows = table.filter(pc.is_in(table.column("drug"), value_set=pa.array([product.brand, *peers]))).to_pylist()
    class_eb05: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if r["drug"] in peers and r.get("eb05") is not None:
            class_eb05.setdefault((r["event_type"], r["event"]), []).append(r["eb05"])
    events = []
    for r in rows:
        if r["drug"] != product.brand:
            continue
        peer = class_eb05.get((r["event_type"], r["event"]))
        events.append(
            ProductEvent(
                event_type=r["event_type"],
                event=r["event"],
                label=cache.event_label(r["event_type"], r["event"]),
                n=r["n"],
                eb05=r.get("eb05"),
                class_eb05=sum(peer) / len(peer) if peer else None,
                rules=cache.rules_met(r),
            )
        )
    events.sort(key=lambda e: (e.event_type != "topic", -(e.eb05 or 0)))
    return ProductProfile(
        id=product.id,
        brand=product.brand,
        generic=product.generic,
        product_class=product.product_class,
        modality=str(getattr(product.modality, "value", product.modality)),
        vector=product.vector,
        boxed_warnings=list(product.boxed_warnings or []),
        peers=peers,
        events=events[:limit],
    )


class RegistryRow(BaseModel):
    product_id: str
    product: str
    patients: int | str = Field(description="a count, or '<5' when suppressed")
    alerted: int | str
    severe_crs: int | str
    severe_icans: int | str
    suppressed: bool


class RegistryAggregates(BaseModel):
    threshold: int
    rows: list[RegistryRow]


def registry_aggregates(session: Session, scope: Scope, products: ProductDictionary) -> RegistryAggregates:
    """Registered patients by product, with an alert, with CRS or ICANS grade >= 3: aggregates
    over the products in scope, small cells suppressed through the one privacy path."""
    if scope.aggregates is None and not scope.all_patients:
        raise NotInScopeError("registry aggregates are not in this account's scope")
    names = {p.id: p.brand for p in products.products}
    in_scope = product_condition(scope, TreatmentRow.product_id)
    treated = dict(session.execute(select(TreatmentRow.patient_id, TreatmentRow.product_id).where(in_scope)).all())
    alerted = set(session.scalars(select(AlertRow.patient_id).distinct()))
    severe: dict[str, set[str]] = {"crs_grade": set(), "icans_grade": set()}
    for kind, pid in session.execute(
        select(ObservationRow.kind, ObservationRow.patient_id)
        .where(
            ObservationRow.kind.in_(("crs_grade", "icans_grade")),
            ObservationRow.value >= 3,
            ObservationRow.superseded.is_(False),
        )
        .distinct()
    ):
        severe[kind].add(pid)
    counts: dict[str, dict[str, Any]] = {}
    for pid, prod in treated.items():
        c = counts.setdefault(
            prod,
            {
                "product_id": prod,
                "product": names.get(prod, prod),
                "patients": 0,
                "alerted": 0,
                "severe_crs": 0,
                "severe_icans": 0,
            },
        )
        c["patients"] += 1
        c["alerted"] += pid in alerted
        c["severe_crs"] += pid in severe["crs_grade"]
        c["severe_icans"] += pid in severe["icans_grade"]
    rows = suppress_small_cells(
        sorted(counts.values(), key=lambda r: r["product"]),
        ["patients", "alerted", "severe_crs", "severe_icans"],
        threshold=SMALL_CELL,
    )
    return RegistryAggregates(threshold=SMALL_CELL, rows=[RegistryRow(**r) for r in rows])
