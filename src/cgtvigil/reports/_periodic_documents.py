"""The PBRER/DSUR document and the signal assessment dossier, rendered as self-contained HTML
(no script, no external resource) and as PDF (WeasyPrint). The HTML is a function of the
report's content alone: the same spec and inputs give the same bytes; the PDF takes its dates
from the data lock point, not from the clock."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import jinja2
from pydantic import BaseModel

from cgtvigil import __version__
from cgtvigil.reports._periodic import NO_TOPIC, CaseEvent, InputRef, PeriodicSpec, SignalLine, TabulationRow, tabulate
from cgtvigil.risk_management import Alignment, RiskRegister

__all__ = [
    "Dossier",
    "PeriodicReport",
    "RegisterInForce",
    "build_dossier",
    "build_periodic",
    "pdf_bytes",
    "render_dossier_html",
    "render_pdf",
    "render_periodic_html",
]


class RegisterInForce(BaseModel):
    product_id: str
    brand: str
    version: int
    sha256: str
    document: RiskRegister


class TopicTotal(BaseModel):
    topic: str
    interval_serious: int
    interval_non_serious: int
    interval_fatal: int
    cumulative_serious: int
    cumulative_non_serious: int
    cumulative_fatal: int


class PeriodicReport(BaseModel):
    spec: PeriodicSpec
    spec_sha256: str
    software: str
    inputs: list[InputRef]
    rows: list[TabulationRow]
    topics: list[TopicTotal]
    cases_interval: int
    cases_cumulative: int
    signals: list[SignalLine] | None  # None: the signal workflow gave no table (the hook is empty)
    registers: list[RegisterInForce]
    topic_names: dict[str, str]


def _distinct(events: Sequence[CaseEvent], spec: PeriodicSpec) -> tuple[int, int]:
    cum = {e.case_id for e in events if e.received is None or e.received <= spec.data_lock_point}
    interval = {
        e.case_id
        for e in events
        if e.received is not None and spec.interval_start <= e.received <= spec.data_lock_point
    }
    return len(interval), len(cum)


def _topic_totals(events: Sequence[CaseEvent], spec: PeriodicSpec) -> list[TopicTotal]:
    """Distinct cases per topic: a case is serious (fatal) for a topic if any of its terms in
    the topic is, and counts once however many of its terms fall in the topic."""
    per: dict[str, dict[str, list[bool]]] = defaultdict(dict)
    received: dict[str, date | None] = {}
    for e in events:
        flags = per[e.topic].setdefault(e.case_id, [False, False])
        flags[0] |= e.serious
        flags[1] |= e.fatal
        received[e.case_id] = e.received
    out = []
    for topic in sorted(per, key=lambda t: (t == NO_TOPIC, t)):
        merged = [
            CaseEvent(cid, "", "", topic, serious, fatal, "", received[cid])
            for cid, (serious, fatal) in per[topic].items()
        ]
        rows = tabulate(merged, spec)
        if rows:
            out.append(TopicTotal(**rows[0].model_dump(exclude={"pt", "source"})))
    return out


def build_periodic(
    spec: PeriodicSpec,
    events: Sequence[CaseEvent],
    inputs: Sequence[InputRef],
    registers: Sequence[RegisterInForce],
    topic_names: dict[str, str],
    signals: Sequence[SignalLine] | None = None,
) -> PeriodicReport:
    """The report's content from its spec and the counted events of its inputs."""
    interval, cumulative = _distinct(events, spec)
    named = [
        *inputs,
        *(InputRef(kind="risk-register", name=f"{r.product_id} v{r.version}", sha256=r.sha256) for r in registers),
    ]
    return PeriodicReport(
        spec=spec,
        spec_sha256=spec.sha256(),
        software=__version__,
        inputs=sorted(named, key=lambda i: (i.kind, i.name)),
        rows=tabulate(events, spec),
        topics=_topic_totals(events, spec),
        cases_interval=interval,
        cases_cumulative=cumulative,
        signals=None if signals is None else sorted(signals, key=lambda s: s.id),
        registers=list(registers),
        topic_names=topic_names,
    )


class DossierCase(BaseModel):
    case_id: str
    received: date | None
    serious: bool
    fatal: bool
    source: str
    terms: list[str]


class Dossier(BaseModel):
    """A signal assessment dossier: the signal, its cases, the statistics of its pair, the
    risk of the register it concerns and that risk's EU/US alignment, with named inputs."""

    title: str
    product_id: str
    brand: str
    event: str
    data_lock_point: date
    software: str
    inputs: list[InputRef]
    signal: SignalLine | None
    timeline: list[str]
    evidence: list[str]
    statistics: list[dict[str, str]]
    cases: list[DossierCase]
    counts: dict[str, int]
    risk: dict[str, str] | None
    alignment: Alignment | None


def build_dossier(
    *,
    product_id: str,
    brand: str,
    event: str,
    data_lock_point: date,
    events: Sequence[CaseEvent],
    inputs: Sequence[InputRef],
    alignment: Alignment | None,
    register: RiskRegister | None,
    signal: SignalLine | None = None,
    timeline: Sequence[str] = (),
    evidence: Sequence[str] = (),
    statistics: Sequence[dict[str, str]] = (),
) -> Dossier:
    """The dossier of ``event`` (a PT name or a safety topic id) for a product: the cases whose
    terms match it up to the data lock point, and the register's risk for it (by topic or PT)."""
    key = event.strip().upper()
    match = [
        e
        for e in events
        if (e.pt == key or e.topic.upper() == key)
        and e.product_id == product_id
        and (e.received is None or e.received <= data_lock_point)
    ]
    by_case: dict[str, list[CaseEvent]] = defaultdict(list)
    for e in match:
        by_case[e.case_id].append(e)
    cases = [
        DossierCase(
            case_id=cid,
            received=min((e.received for e in es if e.received), default=None),
            serious=any(e.serious for e in es),
            fatal=any(e.fatal for e in es),
            source=es[0].source,
            terms=sorted({e.pt for e in es}),
        )
        for cid, es in sorted(by_case.items())
    ]
    risk = None
    if register is not None:
        for r in register.risks:
            if (r.topic or "").upper() == key or key in {p.upper() for p in r.preferred_terms} or r.key.upper() == key:
                risk = {
                    "key": r.key,
                    "name": r.name,
                    "category": r.category.replace("_", " "),
                    "status": r.status,
                    "source": r.source,
                    "confirmed": "no" if r.unconfirmed else "yes",
                }
                break
    rows = [r for r in alignment.rows if risk and r.risk_key == risk["key"]] if alignment else []
    return Dossier(
        title=f"Signal assessment dossier: {brand} – {event}",
        product_id=product_id,
        brand=brand,
        event=event,
        data_lock_point=data_lock_point,
        software=__version__,
        inputs=sorted(inputs, key=lambda i: (i.kind, i.name)),
        signal=signal,
        timeline=list(timeline),
        evidence=list(evidence),
        statistics=list(statistics),
        cases=cases,
        counts={
            "cases": len(cases),
            "serious": sum(c.serious for c in cases),
            "fatal": sum(c.fatal for c in cases),
        },
        risk=risk,
        alignment=alignment.model_copy(update={"rows": rows}) if alignment else None,
    )


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("cgtvigil.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        keep_trailing_newline=True,
    )


def render_periodic_html(report: PeriodicReport) -> str:
    """The PBRER/DSUR as one HTML document (deterministic)."""
    return _env().get_template("periodic.html").render(r=report)


def render_dossier_html(dossier: Dossier) -> str:
    """The signal assessment dossier as one HTML document (deterministic)."""
    return _env().get_template("dossier.html").render(d=dossier)


def pdf_bytes(html: str) -> bytes:
    """``html`` as PDF with WeasyPrint (it needs the Pango library of the system; on Debian
    ``libpango-1.0-0``, which ``make setup`` installs when missing). The PDF's dates come from
    the document's ``dcterms.created`` (the data lock point): the same HTML gives the same bytes."""
    try:
        import weasyprint
    except OSError as exc:  # the Python package is there, the system library is not
        from cgtvigil.errors import CgtVigilError

        raise CgtVigilError(
            f"PDF output needs the Pango library ({exc}); install it (Debian: apt-get install libpango-1.0-0"
            " libpangoft2-1.0-0) or write HTML only."
        ) from exc
    return bytes(weasyprint.HTML(string=html).write_pdf())


def render_pdf(html: str, path: Path) -> Path:
    """Write ``html`` as PDF (:func:`pdf_bytes`) to ``path``."""
    data = pdf_bytes(html)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
