"""Query services of the risk registers (the read model of issue 15): the registers in the
reader's scope, one register with its versions and changes, its EU/US alignment and its
effectiveness indicators. Each takes the reader's ``Scope``: sponsors see their own products'
registers, regulator reviewers every register (read only), administrators all; the JSON API,
the pages and the command line call these and nothing else."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.model import ProductDictionary
from cgtvigil.risk_management._alignment import Alignment, HistoryEntry, align
from cgtvigil.risk_management._indicators import IndicatorSeries, compute_indicator
from cgtvigil.risk_management._register import RiskRegister
from cgtvigil.risk_management._versions import check_register_scope, current_register, starting_registers
from cgtvigil.store import RiskChangeRow, RiskRegisterVersionRow, Scope

__all__ = [
    "MeasureIndicators",
    "RegisterSummary",
    "RegisterView",
    "RiskChange",
    "VersionSummary",
    "register_alignment",
    "register_index",
    "register_indicators",
    "register_view",
]


class RegisterSummary(BaseModel):
    product_id: str
    brand: str
    sponsor: str
    version: int  # 0: the shipped starting register, not edited yet
    at: datetime | None
    risks: int
    measures: int
    unconfirmed: int  # entries not checked against a source
    gaps: int


class VersionSummary(BaseModel):
    version: int
    at: datetime
    by: str
    basis: str
    note: str
    sha256: str


class RiskChange(BaseModel):
    version: int
    risk_key: str
    kind: str
    fields: list[str]
    signal_id: int | None
    at: datetime
    by: str
    rationale: str


class RegisterView(BaseModel):
    product_id: str
    brand: str
    sponsor: str
    version: int
    latest_version: int
    basis: str
    at: datetime | None
    by: str
    note: str
    sha256: str
    document: RiskRegister
    versions: list[VersionSummary]
    changes: list[RiskChange]
    shipped_version: str
    notice: str
    editable: bool


def _unconfirmed(register: RiskRegister) -> int:
    entries = [*register.risks, *register.pv_activities, *register.eu_measures, *register.us_elements]
    return sum(1 for e in entries if e.unconfirmed)


def register_index(session: Session, scope: Scope, products: ProductDictionary, today: date) -> list[RegisterSummary]:
    """Every product register in the scope, with its version and counts."""
    ids = [p.id for p in products.products]
    allowed = [
        check_register_scope(scope, products, pid) for pid in ids if not scope.registers or pid in scope.registers
    ]
    out = []
    for pid in allowed:
        product = products.by_id()[pid]
        stored = current_register(session, pid)
        reg = stored.register
        alignment = align(reg, product.brand, stored.version, today, [])
        out.append(
            RegisterSummary(
                product_id=pid,
                brand=product.brand,
                sponsor=product.sponsor,
                version=stored.version,
                at=stored.at,
                risks=len(reg.risks),
                measures=len(reg.eu_measures) + len(reg.us_elements),
                unconfirmed=_unconfirmed(reg),
                gaps=alignment.gaps,
            )
        )
    return out


def _versions(session: Session, product_id: str) -> list[VersionSummary]:
    rows = session.scalars(
        select(RiskRegisterVersionRow)
        .where(RiskRegisterVersionRow.product_id == product_id)
        .order_by(RiskRegisterVersionRow.version)
    )
    return [
        VersionSummary(version=r.version, at=r.at, by=r.by, basis=r.basis, note=r.note, sha256=r.sha256) for r in rows
    ]


def register_view(
    session: Session, scope: Scope, products: ProductDictionary, product_id: str, version: int | None = None
) -> RegisterView:
    """One register (the latest version, or ``version``) with every version and change."""
    pid = check_register_scope(scope, products, product_id)
    product = products.by_id()[pid]
    stored = current_register(session, pid, version)
    versions = _versions(session, pid)
    number = {
        v_id: v
        for v_id, v in session.execute(
            select(RiskRegisterVersionRow.id, RiskRegisterVersionRow.version).where(
                RiskRegisterVersionRow.product_id == pid
            )
        )
    }
    changes = [
        RiskChange(
            version=number[c.version_id],
            risk_key=c.risk_key,
            kind=c.kind,
            fields=list(c.fields),
            signal_id=c.signal_id,
            at=c.at,
            by=c.by,
            rationale=c.rationale,
        )
        for c in session.scalars(
            select(RiskChangeRow).where(RiskChangeRow.product_id == pid).order_by(RiskChangeRow.id)
        )
    ]
    shipped = starting_registers()
    return RegisterView(
        product_id=pid,
        brand=product.brand,
        sponsor=product.sponsor,
        version=stored.version,
        latest_version=versions[-1].version if versions else 0,
        basis=stored.basis,
        at=stored.at,
        by=stored.by,
        note=stored.note,
        sha256=stored.sha256,
        document=stored.register,
        versions=versions,
        changes=changes,
        shipped_version=shipped.version,
        notice=shipped.notice,
        editable=scope.register_writes,
    )


def register_alignment(
    session: Session, scope: Scope, products: ProductDictionary, product_id: str, on: date, version: int | None = None
) -> Alignment:
    """The EU/US alignment of the product's current register (or of its ``version``: a report
    uses the one in force at its data lock point) as in force on ``on``, with the register's
    versions up to it in the history (change control)."""
    pid = check_register_scope(scope, products, product_id)
    stored = current_register(session, pid, version)
    versions = [
        HistoryEntry(date=v.at.date(), region="register", what=f"register version {v.version} ({v.basis}): {v.note}")
        for v in _versions(session, pid)
        if version is None or v.version <= stored.version
    ]
    return align(stored.register, products.by_id()[pid].brand, stored.version, on, versions)


class MeasureIndicators(BaseModel):
    """The indicators of one measure (EU) or element (US) of a register."""

    region: str
    measure_key: str
    measure_name: str
    risks: list[str]
    indicators: list[IndicatorSeries]


def register_indicators(
    session: Session, scope: Scope, products: ProductDictionary, product_id: str, now: datetime
) -> list[MeasureIndicators]:
    """Every effectiveness indicator the register names, computed over the product's treated
    patients by infusion quarter; quarters of fewer than 5 patients are withheld from readers
    without patient-level access to the product."""
    pid = check_register_scope(scope, products, product_id)
    register = current_register(session, pid).register
    patient_level = scope.all_patients or pid in scope.products
    out = []
    for region, items in (("EU", register.eu_measures), ("US", register.us_elements)):
        for item in items:
            if not item.indicators:
                continue
            out.append(
                MeasureIndicators(
                    region=region,
                    measure_key=item.key,
                    measure_name=item.name,
                    risks=list(item.risks),
                    indicators=[
                        compute_indicator(
                            session,
                            pid,
                            t.indicator,
                            t.target,
                            t.direction,
                            now,
                            patient_level=patient_level,
                            consented_only=not scope.all_patients,
                        )
                        for t in item.indicators
                    ],
                )
            )
    return out
