"""Periodic safety reports (domain.md §8.3): the PBRER/PSUR (ICH E2C(R2), GVP VII) and DSUR
(ICH E2F) summary tabulations — cases by safety topic and preferred term, interval and
cumulative, serious and non-serious, fatal, by source — from the FAERS store and the case
store, with the signal summary table of the period and the risk register in force.

A report is made from a stored spec (:class:`PeriodicSpec`) and named inputs (store snapshots by
SHA-256, register versions by SHA-256): the same spec and inputs give the same HTML bytes, and
the document lists them. Nothing in it depends on the time it was made.

Counting unit: de-duplicated cases (FAERS: the latest version of each case, deleted cases out;
case store: the version in force, nullified cases out). A case is counted once per PT; it is
serious if FAERS has an outcome for it (FAERS records outcomes only for serious reports) or an
E2B reaction meets an ICH E2A criterion, fatal if FAERS outcome DE or an E2B reaction is fatal.
The interval is by the date the case was first received (FAERS ``init_fda_dt``, E2B C.1.4)."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cgtvigil.errors import StoreError, ValidationError
from cgtvigil.model import IcsrCase, ProductDictionary, TopicSet, normalise_name
from cgtvigil.store import CaseStore, FaersStore, check_derived_tables, loaded_snapshot

__all__ = [
    "CaseEvent",
    "InputRef",
    "PeriodicSpec",
    "SignalLine",
    "TabulationRow",
    "case_store_events",
    "case_store_snapshot",
    "collect_events",
    "faers_events",
    "faers_snapshot",
    "tabulate",
]

# FAERS RPSR report source codes (FAERS QDE README); DSUR counts study reports only
RPSR = {
    "FGN": "foreign",
    "SDY": "study",
    "LIT": "literature",
    "CSM": "consumer",
    "HP": "health professional",
    "UF": "user facility",
    "CR": "company representative",
    "DT": "distributor",
    "OTH": "other",
}
E2B_TYPES = {"1": "spontaneous", "2": "study", "3": "other", "4": "not available"}
NO_TOPIC = "(no CGT safety topic)"


class PeriodicSpec(BaseModel):
    """What a periodic report covers: frozen, round-trips through JSON, hashed into the report."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["pbrer", "dsur"]
    products: tuple[str, ...] = Field(min_length=1, description="product dictionary ids")
    interval_start: date
    data_lock_point: date
    roles: tuple[str, ...] = Field(("PS", "SS"), description="FAERS drug roles counted as suspect")
    title: str = ""

    @model_validator(mode="after")
    def _order(self) -> PeriodicSpec:
        if self.interval_start > self.data_lock_point:
            raise ValueError(
                f"the interval starts ({self.interval_start}) after the data lock point ({self.data_lock_point})"
            )
        return self

    def sha256(self) -> str:
        body = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


class InputRef(BaseModel):
    """One input a report was made from, named so that it can be found again."""

    kind: str  # faers-store | case-store | risk-register | signals
    name: str
    sha256: str
    detail: str = ""


class SignalLine(BaseModel):
    """One line of the signal summary table of the period (filled by the signal workflow)."""

    id: int
    title: str
    product: str
    event: str
    source: str
    detected: date
    state: str
    outcome: str = ""
    closed: date | None = None
    risk_ref: str = ""


@dataclass(frozen=True)
class CaseEvent:
    """One case and one of its terms, as counted."""

    case_id: str
    product_id: str
    pt: str
    topic: str
    serious: bool
    fatal: bool
    source: str
    received: date | None


class TabulationRow(BaseModel):
    topic: str
    pt: str
    source: str
    interval_serious: int
    interval_non_serious: int
    interval_fatal: int
    cumulative_serious: int
    cumulative_non_serious: int
    cumulative_fatal: int


def _fda_date(text: str | None) -> date | None:
    t = (text or "").strip()
    if len(t) < 8 or not t[:8].isdigit():
        return None
    try:
        return date(int(t[:4]), int(t[4:6]), int(t[6:8]))
    except ValueError:
        return None


def _topic_index(topics: TopicSet) -> dict[str, list[str]]:
    index: dict[str, list[str]] = defaultdict(list)
    for pt, topic in topics.pt_to_topics():
        index[pt].append(topic)
    return index


def faers_events(store: FaersStore, spec: PeriodicSpec, topics: TopicSet) -> list[CaseEvent]:
    """The (case, PT) rows of the spec's products in the FAERS store, each with its topics,
    seriousness, fatality, report source and initial receipt date."""
    check_derived_tables(store)
    bad = [r for r in spec.roles if not r.isalnum()]
    if bad:
        raise ValidationError(
            [f"The 'roles' of the spec must be FAERS role codes (PS, SS, C, I). Got {list(spec.roles)!r}."]
        )
    roles = ", ".join(f"'{r.upper()}'" for r in spec.roles)
    marks = ", ".join("?" for _ in spec.products)
    rows = store.query(
        f"""
        WITH cases AS (
            SELECT DISTINCT r.caseid, r.primaryid, r.quarter, r.init_fda_dt, m.product_id
            FROM report r
            JOIN drug g ON g.primaryid = r.primaryid AND g.quarter = r.quarter
            JOIN drug_map m ON m.drugname IS NOT DISTINCT FROM g.drugname AND m.prod_ai IS NOT DISTINCT FROM g.prod_ai
            WHERE NOT r.deleted AND upper(trim(g.role_cod)) IN ({roles}) AND m.product_id IN ({marks})),
        outcomes AS (
            SELECT primaryid, quarter, count(*) AS n, bool_or(upper(trim(outc_cod)) = 'DE') AS fatal
            FROM outc GROUP BY primaryid, quarter),
        sources AS (
            SELECT primaryid, quarter, string_agg(DISTINCT upper(trim(rpsr_cod)), '+' ORDER BY upper(trim(rpsr_cod)))
                   AS codes
            FROM rpsr WHERE nullif(trim(rpsr_cod), '') IS NOT NULL GROUP BY primaryid, quarter)
        SELECT DISTINCT c.caseid, c.product_id, upper(trim(x.pt)) AS pt, coalesce(o.n, 0) > 0 AS serious,
               coalesce(o.fatal, FALSE) AS fatal, coalesce(s.codes, '') AS source, c.init_fda_dt
        FROM cases c
        JOIN reac x ON x.primaryid = c.primaryid AND x.quarter = c.quarter
        LEFT JOIN outcomes o ON o.primaryid = c.primaryid AND o.quarter = c.quarter
        LEFT JOIN sources s ON s.primaryid = c.primaryid AND s.quarter = c.quarter
        WHERE nullif(trim(x.pt), '') IS NOT NULL
        ORDER BY 1, 2, 3""",
        list(spec.products),
    ).to_pylist()
    index = _topic_index(topics)
    out = []
    for r in rows:
        codes = [c for c in str(r["source"]).split("+") if c]
        source = "FAERS: " + (" + ".join(RPSR.get(c, c) for c in codes) if codes else "source not given")
        if spec.kind == "dsur" and "SDY" not in codes:
            continue
        for topic in index.get(r["pt"], [NO_TOPIC]):
            out.append(
                CaseEvent(
                    f"FAERS:{r['caseid']}",
                    r["product_id"],
                    r["pt"],
                    topic,
                    bool(r["serious"]),
                    bool(r["fatal"]),
                    source,
                    _fda_date(r["init_fda_dt"]),
                )
            )
    return out


def _e2b_date(ts: object) -> date | None:
    return _fda_date(ts) if isinstance(ts, str) else None


def _case_products(case: IcsrCase, names: dict[str, str]) -> set[str]:
    found = set()
    for drug in case.drugs:
        if not drug.suspect:
            continue
        texts = [drug.name] + [i.name for i in drug.ingredients]
        for t in texts:
            if isinstance(t, str) and normalise_name(t) in names:
                found.add(names[normalise_name(t)])
    return found


def case_store_events(
    cases: Sequence[IcsrCase], spec: PeriodicSpec, products: ProductDictionary, topics: TopicSet
) -> list[CaseEvent]:
    """The (case, term) rows of the spec's products among the cases in force of the case
    store. The term is the reaction's MedDRA term as coded (its display text, else the term as
    reported), upper case: without a licensed MedDRA release the LLT is not mapped to its PT."""
    names = products.name_index()
    wanted = set(spec.products)
    index = _topic_index(topics)
    out = []
    for case in cases:
        hits = _case_products(case, names) & wanted
        if not hits:
            continue
        kind = case.report_type.code if case.report_type and case.report_type.code else ""
        if spec.kind == "dsur" and kind != "2":
            continue
        source = "E2B: " + E2B_TYPES.get(kind, "type not given")
        received = _e2b_date(case.first_received) or _e2b_date(case.most_recent)
        for reaction in case.reactions:
            code = reaction.meddra
            text = (code.display if code and code.display else None) or reaction.as_reported
            if not isinstance(text, str) or not text.strip():
                continue
            pt = " ".join(text.upper().split())
            fatal = reaction.death is True or bool(reaction.outcome and reaction.outcome.code == "5")
            for product in sorted(hits):
                for topic in index.get(pt, [NO_TOPIC]):
                    out.append(
                        CaseEvent(
                            f"E2B:{case.case_id}",
                            product,
                            pt,
                            topic,
                            reaction.serious or fatal,
                            fatal,
                            source,
                            received,
                        )
                    )
    return out


def case_store_snapshot(store: CaseStore) -> str:
    """The SHA-256 of the case store's stored versions (their file hashes and XPaths, sorted)."""
    rows = store.con.execute("SELECT sha256, xpath, status FROM icsr_version ORDER BY 1, 2").fetchall()
    return hashlib.sha256("\n".join(f"{a}|{b}|{c}" for a, b, c in rows).encode()).hexdigest()


def faers_snapshot(store: FaersStore) -> InputRef:
    snap = loaded_snapshot(store)
    return InputRef(
        kind="faers-store",
        name=str(store.path.name),
        sha256=str(snap["snapshot_sha256"]),
        detail=f"{snap['files']} files",
    )


def tabulate(events: Sequence[CaseEvent], spec: PeriodicSpec) -> list[TabulationRow]:
    """Distinct cases per (topic, PT, source): interval (received in [start, DLP]) and
    cumulative (received by the DLP, or with no receipt date), serious, non-serious, fatal.
    A case with a term in several topics counts once in each."""
    cells: dict[tuple[str, str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for e in events:
        if e.received is not None and e.received > spec.data_lock_point:
            continue
        interval = e.received is not None and e.received >= spec.interval_start
        seriousness = "serious" if e.serious else "non_serious"
        key = (e.topic, e.pt, e.source)
        cells[key][f"cumulative_{seriousness}"].add(e.case_id)
        if e.fatal:
            cells[key]["cumulative_fatal"].add(e.case_id)
        if interval:
            cells[key][f"interval_{seriousness}"].add(e.case_id)
            if e.fatal:
                cells[key]["interval_fatal"].add(e.case_id)
    fields = [f for f in TabulationRow.model_fields if f.startswith(("interval", "cumulative"))]
    return [
        TabulationRow(topic=t, pt=p, source=s, **{f: len(cells[(t, p, s)].get(f, ())) for f in fields})
        for t, p, s in sorted(cells, key=lambda k: (k[0] == NO_TOPIC, k))
    ]


def _tables(con: object) -> set[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()  # type: ignore[attr-defined]
    return {str(r[0]) for r in rows}


def collect_events(
    db: Path, spec: PeriodicSpec, products: ProductDictionary, topics: TopicSet
) -> tuple[list[CaseEvent], list[InputRef]]:
    """The counted events and the named inputs of the analytic store ``db`` (read only): its
    FAERS tables when FAERS data is loaded, its case store when ICSRs are stored; a store
    holding neither is refused with what to load."""
    if not Path(db).is_file():
        raise StoreError(f"{db}: no such analytic store; load FAERS quarters or E2B files first (cgtvigil ingest).")
    events: list[CaseEvent] = []
    inputs: list[InputRef] = []
    with FaersStore(db, read_only=True) as store:
        tables = _tables(store.con)
        if "report" in tables and store.con.execute("SELECT count(*) FROM source_file").fetchone() != (0,):
            events += faers_events(store, spec, topics)
            inputs.append(faers_snapshot(store))
    if "icsr_version" in tables:
        with CaseStore(db, read_only=True) as cases:
            events += case_store_events(cases.current_cases(), spec, products, topics)
            inputs.append(
                InputRef(
                    kind="case-store",
                    name=Path(db).name,
                    sha256=case_store_snapshot(cases),
                    detail=f"{cases.counts().get('current', 0)} case versions in force",
                )
            )
    if not inputs:
        raise StoreError(f"{db}: holds neither FAERS data nor ICSRs; load some first (cgtvigil ingest).")
    return events, inputs
