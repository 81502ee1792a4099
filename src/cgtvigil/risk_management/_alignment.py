"""The EU RMP / US REMS alignment of one register (domain.md §5.6): for each risk, the EU
measures and the US elements side by side as in force on a day, the gaps (a risk minimised in
one region only, or with additional measures in one region only), and the history with dates
(the register's dated events, the start and end of each measure and element, the versions)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel

from cgtvigil.risk_management._register import EuMeasure, RiskRegister, UsElement

__all__ = ["Alignment", "AlignmentRow", "HistoryEntry", "MeasureCell", "align"]


class MeasureCell(BaseModel):
    key: str
    name: str
    kind: str  # the EU tool or the US element kind
    additional: bool  # EU: an additional risk-minimisation measure; US: a REMS element
    in_force: bool
    effective_from: date | None
    effective_to: date | None
    unconfirmed: bool


class AlignmentRow(BaseModel):
    risk_key: str
    risk_name: str
    category: str
    status: str
    unconfirmed: bool
    eu: list[MeasureCell]
    us: list[MeasureCell]
    pv_activities: list[str]
    gap: Literal["", "EU only", "US only", "neither region"]  # where the risk is minimised, when not in both
    additional_gap: Literal["", "EU only", "US only"]  # additional RMM / REMS in one region only


class HistoryEntry(BaseModel):
    date: date
    region: str
    what: str
    unconfirmed: bool = False


class Alignment(BaseModel):
    product_id: str
    brand: str
    on: date
    version: int
    rows: list[AlignmentRow]
    gaps: int
    history: list[HistoryEntry]


def _in_force(item: EuMeasure | UsElement, on: date) -> bool:
    started = item.effective_from is None or item.effective_from <= on
    ended = item.effective_to is not None and item.effective_to <= on
    return started and not ended


def _cell(item: EuMeasure | UsElement, on: date) -> MeasureCell:
    kind: str = item.tool if isinstance(item, EuMeasure) else item.kind
    additional = item.additional if isinstance(item, EuMeasure) else item.rems
    return MeasureCell(
        key=item.key,
        name=item.name,
        kind=kind,
        additional=additional,
        in_force=_in_force(item, on),
        effective_from=item.effective_from,
        effective_to=item.effective_to,
        unconfirmed=item.unconfirmed,
    )


def align(register: RiskRegister, brand: str, version: int, on: date, versions: list[HistoryEntry]) -> Alignment:
    """The alignment of ``register`` as in force on ``on``; ``versions`` are the register's
    own versions (change control) to merge into the history.

    Examples
    --------
    >>> from cgtvigil.risk_management._register import Risk
    >>> reg = RiskRegister(
    ...     product_id="x",
    ...     risks=(Risk(key="crs", name="CRS", category="important_identified"),),
    ...     eu_measures=(EuMeasure(key="smpc", name="SmPC", tool="smpc", risks=("crs",)),),
    ... )
    >>> align(reg, "X", 1, date(2026, 1, 1), []).rows[0].gap
    'EU only'
    """
    rows = []
    for risk in register.risks:
        eu = [_cell(m, on) for m in register.eu_measures if risk.key in m.risks]
        us = [_cell(e, on) for e in register.us_elements if risk.key in e.risks]
        eu_on, us_on = any(c.in_force for c in eu), any(c.in_force for c in us)
        eu_add = any(c.in_force and c.additional for c in eu)
        us_add = any(c.in_force and c.additional for c in us)
        gap: Literal["", "EU only", "US only", "neither region"] = (
            "" if eu_on == us_on and eu_on else "EU only" if eu_on else "US only" if us_on else "neither region"
        )
        additional_gap: Literal["", "EU only", "US only"] = (
            "" if eu_add == us_add else "EU only" if eu_add else "US only"
        )
        rows.append(
            AlignmentRow(
                risk_key=risk.key,
                risk_name=risk.name,
                category=risk.category,
                status=risk.status,
                unconfirmed=risk.unconfirmed,
                eu=eu,
                us=us,
                pv_activities=[a.name for a in register.pv_activities if risk.key in a.risks],
                gap=gap,
                additional_gap=additional_gap,
            )
        )
    history = [
        HistoryEntry(date=e.date, region=e.region, what=e.what, unconfirmed=e.unconfirmed) for e in register.history
    ]
    for region, items in (("EU", register.eu_measures), ("US", register.us_elements)):
        for item in items:
            for day, verb in ((item.effective_from, "starts"), (item.effective_to, "ends")):
                if day is not None:
                    history.append(
                        HistoryEntry(date=day, region=region, what=f"{item.name} {verb}", unconfirmed=item.unconfirmed)
                    )
    history.extend(versions)
    history.sort(key=lambda h: (h.date, h.region, h.what))
    return Alignment(
        product_id=register.product_id,
        brand=brand,
        on=on,
        version=version,
        rows=rows,
        gaps=sum(1 for r in rows if r.gap or r.additional_gap),
        history=history,
    )
