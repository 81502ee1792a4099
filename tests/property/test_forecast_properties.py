"""Hypothesis properties of the discrete-time hazard model (forecasting._hazard) on random
daily tables: the risk set keeps censored patients (days followed without the event), holds
one event per patient with an onset after their first day, and the risk of onset by each day
ahead is a probability that never decreases with the days."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cgtvigil.forecasting import DailyTable, HazardForecaster, risk_set
from cgtvigil.forecasting._known import PatientDays

patients = st.lists(
    st.tuples(
        st.integers(2, 12),  # days followed
        st.one_of(st.none(), st.integers(0, 11)),  # onset day (None: censored)
        st.floats(0.5, 300.0),  # CRP level
    ),
    min_size=3,
    max_size=8,
)


def _table(spec: list[tuple[int, int | None, float]]) -> DailyTable:
    pid: list[str] = []
    day: list[int] = []
    crp: list[float] = []
    grade: list[int] = []
    for i, (n, onset, level) in enumerate(spec):
        for d in range(n):
            pid.append(f"P{i:02d}")
            day.append(d)
            crp.append(level * (1 + d))
            grade.append(1 if onset is not None and d >= onset else 0)
    return DailyTable.from_columns({"patient_id": pid, "day": day, "crp_mg_l": crp, "icans_grade": grade})


@given(patients)
def test_risk_set_keeps_censored_days_and_one_event_per_onset(spec: list[tuple[int, int | None, float]]) -> None:
    t = _table(spec)
    grid = PatientDays(t)
    at_risk, event = risk_set(t, grid, "icans", 1)
    for i, (n, onset, _level) in enumerate(spec):
        mine = grid.patient_id == f"P{i:02d}"
        observed = onset if onset is not None and onset < n else None
        if observed is None:  # censored at the last day: every day but the last is at risk
            assert int(at_risk[mine].sum()) == n - 1 and event[mine].sum() == 0
        else:
            assert int(at_risk[mine].sum()) == observed and event[mine].sum() == (1 if observed > 0 else 0)
    assert not (event.astype(bool) & ~at_risk).any()


@settings(max_examples=8, deadline=None)
@given(patients, st.integers(1, 10))
def test_risk_by_day_is_a_probability_that_never_decreases(spec: list[tuple[int, int | None, float]], h: int) -> None:
    t = _table(spec)
    grid = PatientDays(t)
    at_risk, event = risk_set(t, grid, "icans", 1)
    if event[at_risk].sum() in (0, at_risk.sum()):
        return  # a fit needs both outcomes (refused with a message, tested elsewhere)
    model = HazardForecaster(target="icans", horizon=h).fit(t)
    risk = model.predict_risk(t)
    assert risk.shape == (len(t), h)
    assert np.all((risk >= 0) & (risk <= 1)) and np.all(np.diff(risk, axis=1) >= 0)
    hazard = model.predict_hazard(t)
    np.testing.assert_allclose(risk[:, 0], hazard, atol=1e-12)  # day 1's risk is the hazard itself
