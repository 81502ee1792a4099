"""A validated signal opens or changes a risk of the product's register (issue 15): the
register's next version carries the signal id (``cgtvigil.risk_management.signal_opens_risk``)
and the signal keeps the risk's reference (``product/risk@vN``), so the link holds both ways."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from cgtvigil.errors import ValidationError
from cgtvigil.model import ProductDictionary
from cgtvigil.risk_management import Risk, signal_opens_risk
from cgtvigil.signal_management._workflow import find_signal, link_risk, require_writes
from cgtvigil.store import Scope, SignalRecordRow

__all__ = ["VALIDATED_STATES", "open_risk"]

# a signal is validated once it has left detection and validation (or was closed as a risk)
VALIDATED_STATES = ("confirmation", "analysis", "assessment", "recommendation")


def open_risk(
    session: Session,
    scope: Scope,
    products: ProductDictionary,
    signal_id: int,
    risk: Risk,
    *,
    rationale: str,
    at: datetime,
) -> SignalRecordRow:
    """Open ``risk`` in the register of the signal's product (a new key) or change it (an
    existing key), and record the risk's reference on the signal; the caller commits."""
    signal = find_signal(session, scope, signal_id)
    require_writes(scope, signal.product_id)
    if signal.state not in VALIDATED_STATES and signal.outcome != "confirmed_risk":
        raise ValidationError(
            [
                f"Signal {signal.id} is in {signal.state} ({signal.outcome or 'no outcome'}): only a validated "
                "signal (past validation, or closed as a confirmed risk) opens or changes a risk."
            ]
        )
    link = signal_opens_risk(
        session,
        scope,
        products,
        signal_id=signal.id,
        product_id=signal.product_id,
        risk=risk,
        at=at,
        rationale=rationale,
    )
    return link_risk(session, scope, signal.id, link.risk_ref, at=at, kind=link.kind)
