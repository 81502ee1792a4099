"""What a periodic report or a dossier takes from the operational store, under the reader's
scope: the risk register in force at the data lock point, the signal summary table of the
period as it stood at the data lock point (rebuilt from each signal's signed transitions, not
its state today), a signal of the workflow as a dossier line with its timeline, and the table
as a named input. The CLI, the pages and the JSON API all call these."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime, time

from sqlalchemy.orm import Session

from cgtvigil.errors import NotFoundError
from cgtvigil.model import ProductDictionary
from cgtvigil.reports._periodic import InputRef, PeriodicSpec, SignalLine
from cgtvigil.reports._periodic_documents import RegisterInForce
from cgtvigil.risk_management import register_view
from cgtvigil.signal_management import SignalAsOf, end_of_day, find_signal, signal_detail, signals_as_of
from cgtvigil.store import Scope

__all__ = ["dossier_signal", "periodic_signal_lines", "registers_in_force", "signals_input"]


def registers_in_force(
    session: Session, scope: Scope, products: ProductDictionary, product_ids: Sequence[str], data_lock_point: date
) -> list[RegisterInForce]:
    """Each product's register as it stood at the end of the data lock point: its last version
    stored by then, else the shipped starting register (version 0; stored as version 1 by the
    first edit, which this leaves out when the edit came after the lock)."""
    until = end_of_day(data_lock_point)
    out = []
    for pid in product_ids:
        latest = register_view(session, scope, products, pid)
        before = [v.version for v in latest.versions if v.at.replace(tzinfo=None) < until]
        version = max(before) if before else 0
        v = latest if version == latest.version else register_view(session, scope, products, pid, version)
        out.append(
            RegisterInForce(
                product_id=v.product_id, brand=v.brand, version=v.version, sha256=v.sha256, document=v.document
            )
        )
    return out


def _line(s: SignalAsOf) -> SignalLine:
    return SignalLine(
        id=s.id,
        title=s.title,
        product=s.product_id,
        event=s.event,
        source=s.source_kind,
        detected=s.created_at.date(),
        state=s.state_label,
        outcome=s.outcome or "",
        closed=s.closed_at.date() if s.closed_at else None,
        risk_ref=s.risk_ref,
    )


def periodic_signal_lines(session: Session, scope: Scope, spec: PeriodicSpec) -> list[SignalLine]:
    """The signal summary table of the period: the signals of the spec's products detected by
    the data lock point and not closed before the interval, each in the state it was in at the
    end of the data lock point (a signal moved on since then shows where it stood; one created
    after it is left out)."""
    found = signals_as_of(
        session,
        scope,
        spec.products,
        end_of_day(spec.data_lock_point),
        closed_since=datetime.combine(spec.interval_start, time()),
    )
    return [_line(s) for s in found]


def dossier_signal(
    session: Session, scope: Scope, signal_id: int, data_lock_point: date
) -> tuple[SignalLine, list[str], list[str]]:
    """A signal of the workflow as it stood at the end of the data lock point (a dossier
    line), its timeline up to then and its evidence added by then."""
    until = end_of_day(data_lock_point)
    row = find_signal(session, scope, signal_id)  # NotFoundError outside the scope
    found = [s for s in signals_as_of(session, scope, [row.product_id], until) if s.id == signal_id]
    if not found:
        raise NotFoundError(f"signal {signal_id} was created after the data lock point {data_lock_point}")
    state = found[0]
    d = signal_detail(session, scope, signal_id, until)
    timeline = [
        f"{e.at:%Y-%m-%d %H:%M} UTC {e.by}: {e.kind}"
        + (f" {e.from_state} -> {e.to_state}" if e.to_state else "")
        + (f" ({e.outcome})" if e.outcome else "")
        + (f", signed: {e.meaning}" if e.meaning else "")
        + (f" — {e.rationale}" if e.rationale else "")
        for e in d.events
        if e.at.replace(tzinfo=None) < until
    ]
    by_lock = [v for v in d.evidence if v.added_at.replace(tzinfo=None) < until]
    # superseded by the lock: a re-screen had then added the row that replaces it (a later one does not count)
    evidence = [
        f"{v.kind}: {v.title} ({v.reference})"
        + ("" if v.current or not any(w.kind == v.kind and w.id > v.id for w in by_lock) else " [superseded]")
        for v in by_lock
    ]
    return _line(state), timeline, evidence


def signals_input(lines: Sequence[SignalLine]) -> InputRef:
    """The signal table as a named input: the SHA-256 of its lines as JSON."""
    body = json.dumps([line.model_dump(mode="json") for line in sorted(lines, key=lambda x: x.id)], sort_keys=True)
    return InputRef(
        kind="signals",
        name="signal workflow (as at the data lock point)",
        sha256=hashlib.sha256(body.encode()).hexdigest(),
        detail=f"{len(lines)} signals",
    )
