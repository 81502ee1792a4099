"""Hypothesis properties of observation intake: re-sending any batch is idempotent, and every
correction keeps exactly one current value per device, kind and time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from cgtvigil.ingest import IntakeResult
from cgtvigil.model import Observation
from cgtvigil.monitoring import store_observations
from cgtvigil.store import ObservationRow, operational_engine, session_factory

T0 = datetime(2026, 3, 1, tzinfo=UTC)
readings = st.lists(st.tuples(st.integers(0, 30), st.floats(35.0, 41.0).map(lambda v: round(v, 1))), max_size=25)


@settings(max_examples=30, deadline=None)
@given(readings, readings)
def test_resending_is_idempotent_and_corrections_keep_one_current_value(first: list, second: list) -> None:
    engine = operational_engine("sqlite://")
    with session_factory(engine)() as s:

        def batch(rows: list) -> IntakeResult:
            return IntakeResult(
                [
                    Observation(
                        patient="P",
                        kind="temperature",
                        value=v,
                        unit="Cel",
                        time=T0 + timedelta(minutes=2 * m),
                        source="omh",
                        device="d",
                    )
                    for m, v in rows
                ]
            )

        store_observations(s, batch(first), T0)
        store_observations(s, batch(second), T0)
        before = s.scalar(select(func.count()).select_from(ObservationRow))
        again = store_observations(s, batch(first + second), T0)
        # everything re-sent is either an exact repeat or a correction of an existing slot
        assert again.loaded == again.corrections
        current = s.execute(
            select(ObservationRow.time, func.count())
            .where(ObservationRow.superseded.is_(False))
            .group_by(ObservationRow.time)
        ).all()
        assert all(n == 1 for _, n in current)  # one current value per slot
        assert s.scalar(select(func.count()).select_from(ObservationRow)) >= before
    engine.dispose()
