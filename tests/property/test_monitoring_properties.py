"""Hypothesis properties of observation intake: after any sequence of batches (repeats,
corrections, corrections back to an earlier value), each slot (device, kind, time) has exactly
one current value and it is the last value sent for that slot; re-sending the last state is
all duplicates (reliability review D7, D8)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cgtvigil.ingest import IntakeResult
from cgtvigil.model import Observation
from cgtvigil.monitoring import register_patient, store_observations
from cgtvigil.store import ObservationRow, load_products, operational_engine, session_factory

T0 = datetime(2026, 3, 1, tzinfo=UTC)
readings = st.lists(st.tuples(st.integers(0, 8), st.sampled_from([37.0, 37.5, 38.0, 38.5])), max_size=12)
PRODUCTS = load_products()


def batch(rows: list[tuple[int, float]]) -> IntakeResult:
    return IntakeResult(
        [
            Observation(
                patient="P-1",
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


@settings(max_examples=40, deadline=None)
@given(st.lists(readings, min_size=1, max_size=5))
def test_the_current_value_of_every_slot_is_the_last_one_sent(batches: list[list[tuple[int, float]]]) -> None:
    engine = operational_engine("sqlite://")
    with session_factory(engine)() as s:
        register_patient(s, PRODUCTS, patient="P-1", site="A", product="kymriah", infusion_date=date(2026, 2, 1))
        last: dict[int, float] = {}
        for rows in batches:
            store_observations(s, batch(rows), T0 + timedelta(days=1))
            last.update(dict(rows))
        current = s.execute(select(ObservationRow.time, ObservationRow.value).where(~ObservationRow.superseded)).all()
        assert sorted(current) == sorted(
            (T0.replace(tzinfo=None) + timedelta(minutes=2 * m), v) for m, v in last.items()
        )
        again = store_observations(s, batch(sorted(last.items())), T0 + timedelta(days=1))
        assert (again.loaded, again.duplicates) == (0, len(last))
    engine.dispose()
