"""Stored periodic reports (issue 15): generate a PBRER/PSUR, DSUR or signal assessment dossier
from a request, keep the document (HTML and PDF) with its spec and named inputs, list the
reports in the reader's scope, hand one out as HTML or PDF, and share one with a regulator
reviewer. The pages, the JSON API and the CLI call these; every generation, download and
share is audited.

Who may do what (the scope of the signal workflow, since a report carries its signal table):

- generate, and share: a sponsor's safety scientist for the sponsor's own products (every
  product of the report), an administrator (the QPPV's office) for any;
- read and download: the same, and a regulator reviewer the reports a sponsor shared with them;
- a sponsor never sees a report that names another sponsor's product.

Reproducible: the same spec and the same inputs (store snapshots, register versions, the
signal table at the data lock point, the screen for a dossier's statistics) give the same HTML
and PDF bytes; a second request for them stores nothing new and answers the stored report."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select, true
from sqlalchemy.orm import Session

from cgtvigil.audit import append_audit
from cgtvigil.errors import CgtVigilError, NotFoundError, NotInScopeError, ValidationError
from cgtvigil.model import ProductDictionary, TopicSet, normalise_name
from cgtvigil.reports._periodic import InputRef, PeriodicSpec, SignalLine, collect_events
from cgtvigil.reports._periodic_documents import (
    build_dossier,
    build_periodic,
    pdf_bytes,
    render_dossier_html,
    render_periodic_html,
)
from cgtvigil.reports._periodic_inputs import (
    dossier_signal,
    periodic_signal_lines,
    registers_in_force,
    signals_input,
)
from cgtvigil.risk_management import register_alignment
from cgtvigil.store import MAX_ROW_ID, PeriodicReportRow, PeriodicReportShareRow, Scope, UserRow, utc_naive

__all__ = [
    "DossierSpec",
    "ReportDetail",
    "ReportFile",
    "ReportRequest",
    "ReportSummary",
    "generate_report",
    "list_reports",
    "report_detail",
    "report_file",
    "resolve_products",
    "screen_statistics",
    "share_report",
]

ReportKind = Literal["pbrer", "dsur", "dossier"]


class ReportRequest(BaseModel):
    """What to generate: a PBRER/PSUR or DSUR of products over an interval, or the dossier of a
    signal (or of a product and event) at a data lock point."""

    model_config = ConfigDict(extra="forbid")

    kind: ReportKind
    products: list[Annotated[str, Field(max_length=128)]] = Field(
        default_factory=list, max_length=50, description="dictionary ids or brands (PBRER/DSUR; a dossier: one)"
    )
    interval_start: date | None = Field(None, description="PBRER/DSUR: first day of the interval")
    data_lock_point: date
    signal: int | None = Field(None, description="dossier: a signal of the workflow (its product and event)")
    event: str = Field("", max_length=256, description="dossier without a signal: a PT name or a topic id")
    title: str = Field("", max_length=200)
    pdf: bool = Field(True, description="also make the PDF (WeasyPrint)")

    @model_validator(mode="after")
    def _complete(self) -> ReportRequest:
        problems = []
        if self.kind in ("pbrer", "dsur"):
            if not self.products:
                problems.append(f"A {self.kind.upper()} needs at least one product.")
            if self.interval_start is None:
                problems.append(f"A {self.kind.upper()} needs the first day of its interval (interval_start).")
            elif self.interval_start > self.data_lock_point:
                problems.append(
                    f"The interval starts ({self.interval_start}) after the data lock point ({self.data_lock_point})."
                )
        elif self.signal is None and (len(self.products) != 1 or not self.event.strip()):
            problems.append("A dossier needs a signal, or one product and an event.")
        elif self.signal is not None and (self.products or self.event.strip()):
            problems.append("A dossier takes either a signal or a product and an event, not both.")
        if problems:  # (a custom error: its JSON form carries no exception object)
            raise PydanticCustomError("report_request", " ".join(problems))
        return self


class DossierSpec(BaseModel):
    """What a dossier covers: frozen, round-trips through JSON, hashed into the stored report."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["dossier"] = "dossier"
    product: str
    event: str
    signal: int | None = None
    data_lock_point: date
    title: str = ""

    def sha256(self) -> str:
        body = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


class ReportSummary(BaseModel):
    id: int
    kind: ReportKind
    title: str
    products: list[str]
    data_lock_point: date
    spec_sha256: str
    inputs_sha256: str
    html_sha256: str
    pdf_sha256: str = Field("", description="empty: no PDF (the PDF library was not available)")
    created_at: datetime
    created_by: str
    shared_with: list[str] = Field(default_factory=list, description="reviewers (shown to the sponsor only)")
    can_share: bool = False


class ReportDetail(ReportSummary):
    spec: dict[str, object]
    inputs: list[InputRef]
    reused: bool = Field(False, description="generation found the same document already stored")


class ReportFile(BaseModel):
    """A stored document handed out: its bytes, media type and file name."""

    content: bytes
    media_type: str
    filename: str
    sha256: str


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def resolve_products(products: ProductDictionary, names: list[str]) -> tuple[str, ...]:
    """Dictionary ids for ids or brands (case-insensitive), sorted; unknown names are one error."""
    brands = {p.brand.lower(): p.id for p in products.products}
    ids = sorted({brands.get(n.strip().lower(), n.strip().lower()) for n in names if n.strip()})
    unknown = [p for p in ids if p not in products.by_id()]
    if unknown:
        raise ValidationError([f"Unknown product(s) {', '.join(unknown)}; see 'cgtvigil dictionary products'."])
    return tuple(ids)


def _require_writes(scope: Scope, product_ids: tuple[str, ...]) -> None:
    if not scope.signal_writes:
        raise NotInScopeError("this account may read reports shared with it, not generate or share them")
    others = [p for p in product_ids if not scope.all_signals and p not in scope.signal_products]
    if others:
        raise NotInScopeError(f"{', '.join(others)}: not a product of this account's sponsor")


def screen_statistics(path: Path, names: list[str], event: str) -> tuple[list[dict[str, str]], InputRef]:
    """The rows of a stored screen result for a product (any of its names) and an event, and
    the screen as a named input (its file's SHA-256 and its spec hash)."""
    from cgtvigil.screening import read_result

    result = read_result(path)
    keys = {normalise_name(n) for n in names}
    wanted = normalise_name(event)
    rows = []
    for r in result.table.to_pylist():
        if normalise_name(str(r.get("drug", ""))) in keys and normalise_name(str(r.get("event", ""))) == wanted:
            rows.append(
                {
                    "level": str(r.get("event_type", "")),
                    "n": str(r.get("n", "")),
                    **{
                        k: "–" if r.get(k) is None or r[k] != r[k] else f"{r[k]:.2f}"
                        for k in ("expected", "prr", "ror_lower", "ic025", "ebgm", "eb05")
                        if k in r
                    },
                }
            )
    meta = result.metadata
    ref = InputRef(
        kind="screen",
        name=path.name,
        sha256=_digest(path.read_bytes()),
        detail=f"spec {str(meta.get('spec_hash', ''))[:12]}",
    )
    return rows, ref


def _periodic_document(
    session: Session,
    scope: Scope,
    request: ReportRequest,
    *,
    db: Path,
    products: ProductDictionary,
    topics: TopicSet,
) -> tuple[PeriodicSpec, list[InputRef], str, str]:
    assert request.kind in ("pbrer", "dsur") and request.interval_start is not None
    ids = resolve_products(products, request.products)
    _require_writes(scope, ids)
    spec = PeriodicSpec(
        kind=request.kind,
        products=ids,
        interval_start=request.interval_start,
        data_lock_point=request.data_lock_point,
        title=request.title,
    )
    events, inputs = collect_events(db, spec, products, topics)
    registers = registers_in_force(session, scope, products, ids, spec.data_lock_point)
    lines = periodic_signal_lines(session, scope, spec)
    inputs.append(signals_input(lines))
    report = build_periodic(spec, events, inputs, registers, {t.id: t.name for t in topics.topics}, lines)
    label = "PSUR/PBRER" if spec.kind == "pbrer" else "DSUR"
    title = spec.title or f"{label} {', '.join(r.brand for r in registers)} to {spec.data_lock_point}"
    return spec, report.inputs, render_periodic_html(report), title


def _dossier_document(
    session: Session,
    scope: Scope,
    request: ReportRequest,
    *,
    db: Path,
    products: ProductDictionary,
    topics: TopicSet,
    screen: Path | None,
) -> tuple[DossierSpec, list[InputRef], str, str]:
    lock = request.data_lock_point
    line: SignalLine | None = None
    timeline: list[str] = []
    evidence: list[str] = []
    if request.signal is not None:
        line, timeline, evidence = dossier_signal(session, scope, request.signal, lock)
        pid, event = line.product, line.event
    else:
        (pid,) = resolve_products(products, request.products)
        event = request.event.strip()
    _require_writes(scope, (pid,))
    if pid not in products.by_id():
        raise ValidationError([f"The signal's product {pid!r} is not in the product dictionary: no dossier."])
    spec = DossierSpec(product=pid, event=event, signal=request.signal, data_lock_point=lock, title=request.title)
    counting = PeriodicSpec(kind="pbrer", products=(pid,), interval_start=lock, data_lock_point=lock)
    events, inputs = collect_events(db, counting, products, topics)
    (register,) = registers_in_force(session, scope, products, (pid,), lock)
    alignment = register_alignment(session, scope, products, pid, lock, register.version)
    inputs.append(InputRef(kind="risk-register", name=f"{pid} v{register.version}", sha256=register.sha256))
    if line is not None:
        inputs.append(signals_input([line]))
    statistics: list[dict[str, str]] = []
    if screen is not None and screen.is_file():
        statistics, screen_input = screen_statistics(screen, products.by_id()[pid].names(), event)
        inputs.append(screen_input)
    dossier = build_dossier(
        product_id=pid,
        brand=register.brand,
        event=event,
        data_lock_point=lock,
        events=events,
        inputs=inputs,
        alignment=alignment,
        register=register.document,
        signal=line,
        timeline=timeline,
        evidence=evidence,
        statistics=statistics,
    )
    if request.title:
        dossier = dossier.model_copy(update={"title": request.title})
    return spec, dossier.inputs, render_dossier_html(dossier), dossier.title


def _inputs_sha256(spec_sha256: str, inputs: list[InputRef]) -> str:
    body = json.dumps(
        [spec_sha256, [i.model_dump(mode="json") for i in sorted(inputs, key=lambda i: (i.kind, i.name, i.sha256))]],
        sort_keys=True,
        separators=(",", ":"),
    )
    return _digest(body.encode())


def generate_report(
    session: Session,
    scope: Scope,
    request: ReportRequest,
    *,
    db: Path,
    products: ProductDictionary,
    topics: TopicSet,
    at: datetime,
    screen: Path | None = None,
) -> ReportDetail:
    """Make the document of ``request`` from the analytic store ``db`` (read only) and the
    operational store, store it with its spec and inputs (unless the same document is stored
    already) and audit the generation (``report.generate``). The caller commits."""
    if request.kind == "dossier":
        spec, inputs, html, title = _dossier_document(
            session, scope, request, db=db, products=products, topics=topics, screen=screen
        )
        product_ids: tuple[str, ...] = (spec.product,)
    else:
        periodic, inputs, html, title = _periodic_document(
            session, scope, request, db=db, products=products, topics=topics
        )
        spec, product_ids = periodic, periodic.products  # type: ignore[assignment]
    spec_sha256 = spec.sha256()
    inputs_sha256 = _inputs_sha256(spec_sha256, inputs)
    html_sha256 = _digest(html.encode())
    same = session.scalars(
        select(PeriodicReportRow)
        .where(
            PeriodicReportRow.spec_sha256 == spec_sha256,
            PeriodicReportRow.inputs_sha256 == inputs_sha256,
            PeriodicReportRow.html_sha256 == html_sha256,
            PeriodicReportRow.pdf_sha256 != "" if request.pdf else true(),  # asked for a PDF: one that has it
        )
        .order_by(PeriodicReportRow.id)
    ).first()
    reused = same is not None
    if same is not None:
        row = same
    else:
        pdf: bytes | None = None
        if request.pdf:
            try:
                pdf = pdf_bytes(html)
            except CgtVigilError:  # no Pango on this machine: the HTML is stored, the PDF is not
                pdf = None
        row = PeriodicReportRow(
            kind=spec.kind,
            title=title[:256],
            products=",".join(product_ids),
            data_lock_point=spec.data_lock_point,
            spec=spec.model_dump(mode="json"),
            spec_sha256=spec_sha256,
            inputs=[i.model_dump(mode="json") for i in inputs],
            inputs_sha256=inputs_sha256,
            html=html,
            html_sha256=html_sha256,
            pdf=pdf,
            pdf_sha256=_digest(pdf) if pdf is not None else "",
            created_at=utc_naive(at),
            created_by=scope.actor,
        )
        session.add(row)
        session.flush()
    append_audit(
        session,
        actor=scope.actor,
        action="report.generate",
        target=f"report:{row.id}",
        at=at,
        detail={
            "kind": spec.kind,
            "products": list(product_ids),
            "data_lock_point": spec.data_lock_point.isoformat(),
            "spec_sha256": spec_sha256,
            "inputs_sha256": inputs_sha256,
            "html_sha256": html_sha256,
            "pdf_sha256": row.pdf_sha256,
            "reused": reused,
        },
    )
    return _detail(session, scope, row, reused=reused)


def _products(row: PeriodicReportRow) -> list[str]:
    return [p for p in row.products.split(",") if p]


def _shares(session: Session, report_id: int) -> list[str]:
    return list(
        session.scalars(
            select(PeriodicReportShareRow.reviewer)
            .where(PeriodicReportShareRow.report_id == report_id, PeriodicReportShareRow.revoked_at.is_(None))
            .order_by(PeriodicReportShareRow.reviewer)
        )
    )


def _may_write(scope: Scope, row: PeriodicReportRow) -> bool:
    return scope.signal_writes and (scope.all_signals or set(_products(row)) <= scope.signal_products)


def _visible(session: Session, scope: Scope, row: PeriodicReportRow) -> bool:
    """The one decision of who sees a stored report (see the module's docstring)."""
    if scope.all_signals:
        return True
    if scope.signal_products and set(_products(row)) <= scope.signal_products:
        return True
    return scope.signal_reviewer is not None and scope.signal_reviewer in _shares(session, row.id)


def _summary(session: Session, scope: Scope, row: PeriodicReportRow) -> dict[str, Any]:
    writer = _may_write(scope, row)
    return {
        "id": row.id,
        "kind": row.kind,
        "title": row.title,
        "products": _products(row),
        "data_lock_point": row.data_lock_point,
        "spec_sha256": row.spec_sha256,
        "inputs_sha256": row.inputs_sha256,
        "html_sha256": row.html_sha256,
        "pdf_sha256": row.pdf_sha256,
        "created_at": row.created_at,
        "created_by": row.created_by,
        "shared_with": _shares(session, row.id) if writer else [],
        "can_share": writer,
    }


def _detail(session: Session, scope: Scope, row: PeriodicReportRow, *, reused: bool = False) -> ReportDetail:
    return ReportDetail(
        **_summary(session, scope, row),
        spec=row.spec,
        inputs=[InputRef.model_validate(i) for i in row.inputs],
        reused=reused,
    )


def _find(session: Session, scope: Scope, report_id: int) -> PeriodicReportRow:
    if not (scope.signal_writes or scope.signal_reviewer or scope.all_signals or scope.signal_products):
        raise NotInScopeError("periodic reports are outside this account's scope")
    row = session.get(PeriodicReportRow, report_id) if 0 < report_id <= MAX_ROW_ID else None
    if row is None or not _visible(session, scope, row):
        raise NotFoundError(f"there is no report {report_id} in this account's scope")
    return row


def list_reports(session: Session, scope: Scope, *, kind: str = "", product: str = "") -> list[ReportSummary]:
    """The stored reports in ``scope``, newest first (``kind`` and ``product`` filter)."""
    if not (scope.signal_writes or scope.signal_reviewer or scope.all_signals or scope.signal_products):
        raise NotInScopeError("periodic reports are outside this account's scope")
    query = select(PeriodicReportRow).order_by(PeriodicReportRow.created_at.desc(), PeriodicReportRow.id.desc())
    if kind:
        query = query.where(PeriodicReportRow.kind == kind)
    if scope.signal_reviewer is not None and not scope.all_signals and not scope.signal_products:
        query = query.where(
            PeriodicReportRow.id.in_(
                select(PeriodicReportShareRow.report_id).where(
                    PeriodicReportShareRow.reviewer == scope.signal_reviewer,
                    PeriodicReportShareRow.revoked_at.is_(None),
                )
            )
        )
    out = []
    for row in session.scalars(query.limit(2000)):
        if product and product.lower() not in _products(row):
            continue
        if _visible(session, scope, row):
            out.append(ReportSummary(**_summary(session, scope, row)))
    return out


def report_detail(session: Session, scope: Scope, report_id: int) -> ReportDetail:
    """One stored report with its spec and named inputs (NotFoundError outside the scope)."""
    return _detail(session, scope, _find(session, scope, report_id))


def report_file(
    session: Session, scope: Scope, report_id: int, fmt: Literal["html", "pdf"], *, at: datetime, via: str = "web"
) -> ReportFile:
    """The stored document as HTML or PDF, checked against its stored digest, the download
    audited (``report.download``; the caller commits)."""
    row = _find(session, scope, report_id)
    if fmt == "pdf":
        if row.pdf is None:
            raise NotFoundError(f"report {report_id} has no PDF (the PDF library was not available when it was made)")
        content, expected, media = bytes(row.pdf), row.pdf_sha256, "application/pdf"
    else:
        content, expected, media = row.html.encode(), row.html_sha256, "text/html; charset=utf-8"
    if _digest(content) != expected:
        raise CgtVigilError(
            f"report {report_id}: the stored {fmt.upper()} does not match its digest (changed outside the"
            " application); run 'cgtvigil audit verify'"
        )
    append_audit(
        session,
        actor=scope.actor,
        action="report.download",
        target=f"report:{row.id}",
        at=at,
        detail={"format": fmt, "sha256": expected, "kind": row.kind, "via": via},
    )
    stem = f"{row.kind}-{row.products.replace(',', '-')}-{row.data_lock_point}-{row.id}"
    return ReportFile(content=content, media_type=media, filename=f"{stem}.{fmt}", sha256=expected)


def share_report(
    session: Session, scope: Scope, report_id: int, reviewer: str, *, at: datetime, revoke: bool = False
) -> ReportDetail:
    """Share the report with a regulator reviewer (read and download), or end that; audited
    (``report.share``; the caller commits)."""
    row = _find(session, scope, report_id)
    if not _may_write(scope, row):
        raise NotInScopeError("this account may not share this report")
    user = session.get(UserRow, reviewer)
    if user is None or user.role != "regulator_reviewer":
        raise ValidationError([f"There is no regulator reviewer named {reviewer!r}."])
    share = session.get(PeriodicReportShareRow, (row.id, reviewer))
    when = utc_naive(at)
    if revoke:
        if share is None or share.revoked_at is not None:
            raise ValidationError([f"Report {report_id} is not shared with {reviewer!r}."])
        share.revoked_at = when
    elif share is None:
        session.add(PeriodicReportShareRow(report_id=row.id, reviewer=reviewer, shared_at=when, shared_by=scope.actor))
    elif share.revoked_at is not None:
        share.revoked_at, share.shared_at, share.shared_by = None, when, scope.actor
    session.flush()
    append_audit(
        session,
        actor=scope.actor,
        action="report.unshare" if revoke else "report.share",
        target=f"report:{row.id}",
        at=at,
        detail={"reviewer": reviewer},
    )
    return _detail(session, scope, row)
