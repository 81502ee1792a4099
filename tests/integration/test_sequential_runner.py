"""The registry-cohort MaxSPRT runner on real SQLite and PostgreSQL operational stores.

Expected counts are computed by hand in the tests (lambda = -log(1 - risk) / window days times the
patient-days at risk); the boundary is the exact continuous Poisson cv (checked against the R
package Sequential in tests/reference/test_maxsprt_sequential.py).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select

from cgtvigil.ingest import IntakeResult
from cgtvigil.model import Observation
from cgtvigil.monitoring import (
    CohortSpec,
    MonitoringRules,
    acknowledge,
    register_patient,
    resolve,
    run_cohort_surveillance,
    store_observations,
)
from cgtvigil.signals import maxsprt_poisson_cv
from cgtvigil.store import AlertEventRow, AlertRow, load_products, operational_engine, session_factory

RULES = MonitoringRules()
D0 = date(2026, 1, 1)


def _grade(patient: str, when: datetime, value: float = 3.0) -> Observation:
    return Observation(patient=patient, kind="crs_grade", value=value, unit="grade", time=when, source="clinician")


def _at(day: float) -> datetime:
    return datetime(D0.year, D0.month, D0.day, tzinfo=UTC) + timedelta(days=day)


@pytest.fixture
def session(operational_url: str):  # type: ignore[no-untyped-def]
    engine = operational_engine(operational_url)
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def _cohort(session, n: int, *, every: float = 1.0, product: str = "kymriah") -> list[str]:  # type: ignore[no-untyped-def]
    ids = []
    for i in range(n):
        pid = f"P-{i:03d}"
        infusion = D0 + timedelta(days=int(i * every))
        register_patient(session, load_products(), patient=pid, site="A", product=product, infusion_date=infusion)
        ids.append(pid)
    session.commit()
    return ids


SPEC = CohortSpec(
    name="kymriah-crs3",
    products=("kymriah",),
    event_kind="crs_grade",
    min_value=3,
    window_start_day=0,
    window_end_day=28,
    h0_risk=0.05,
    surveillance_length=4.0,
    minimum_events=2,
)


def test_spec_round_trips_and_refuses_a_bad_window() -> None:
    assert CohortSpec.model_validate_json(SPEC.model_dump_json()) == SPEC
    with pytest.raises(PydanticValidationError, match="window_end_day"):
        CohortSpec(**{**SPEC.model_dump(), "window_start_day": 30})


def test_expected_count_is_lambda_times_patient_days(session) -> None:  # type: ignore[no-untyped-def]
    """Three patients infused on days 0, 10, 20; one grade-3 CRS on day 3 of the first; as of
    day 30: at-risk days 3 (stops at the event) + 20 + 10 = 33."""
    _cohort(session, 3, every=10)
    store_observations(session, IntakeResult([_grade("P-000", _at(3)), _grade("P-001", _at(40))]), _at(41))
    store_observations(session, IntakeResult([_grade("P-002", _at(21), value=2)]), _at(41))  # grade 2: no event
    session.commit()
    run = run_cohort_surveillance(session, SPEC, load_products(), now=_at(30), rules=RULES)
    rate = -math.log(0.95) / 28
    assert run.test.expected[-1] == pytest.approx(rate * 33, rel=1e-12)
    assert run.test.observed.tolist() == [1.0, 1.0]  # the event, then now
    assert run.attrition == {"patients": 3, "observations": 2, "events": 1, "outside_window": 1, "after_now": 0}
    assert not run.test.signalled and run.alert_id is None


def test_an_excess_of_events_signals_once_through_the_alert_life_cycle(session) -> None:  # type: ignore[no-untyped-def]
    """40 patients infused a day apart, H0 risk 5% in 28 days; 10 of them have grade-3 CRS on day 2."""
    ids = _cohort(session, 40)
    grades = [_grade(p, _at(i + 2)) for i, p in enumerate(ids) if i % 4 == 0]
    store_observations(session, IntakeResult(grades), _at(60))
    session.commit()
    run = run_cohort_surveillance(session, SPEC, load_products(), now=_at(60), rules=RULES)
    cv = maxsprt_poisson_cv(4.0, minimum_events=2).cv
    # day 2: one event, 3 patient-days at risk; its LLR is past cv but M = 2 holds the signal back
    assert run.test.observed[0] == 1 and run.test.llr[0] > cv
    assert run.test.expected[0] == pytest.approx(3 * -math.log(0.95) / 28)
    assert run.test.signal_index == 1 and run.test.llr[1] >= cv  # the second event signals
    assert run.signal_time == _at(6)
    assert run.alert_created and run.alert_id is not None
    session.commit()
    alert = session.get(AlertRow, run.alert_id)
    assert (alert.patient_id, alert.rule, alert.status, alert.severity) == (
        "cohort:kymriah-crs3",
        "maxsprt:crs_grade",
        "open",
        "high",
    )
    assert "observed vs" in alert.message and f"cv {cv:.4f}" in alert.message
    again = run_cohort_surveillance(session, SPEC, load_products(), now=_at(61), rules=RULES)
    assert (again.alert_id, again.alert_created) == (run.alert_id, False)  # a re-run raises nothing new
    acknowledge(session, run.alert_id, "safety-officer", _at(61), "reviewing the cohort")
    resolve(session, run.alert_id, "safety-officer", _at(62), "confirmed; label update proposed")
    session.commit()
    third = run_cohort_surveillance(session, SPEC, load_products(), now=_at(63), rules=RULES)
    assert (third.alert_id, third.alert_created) == (run.alert_id, False)  # resolved stays resolved
    events = session.scalars(select(AlertEventRow.status).where(AlertEventRow.alert_id == run.alert_id)).all()
    assert events == ["open", "acknowledged", "resolved"]
    assert session.scalars(select(AlertRow)).all() == [alert]


def test_events_at_the_h0_rate_do_not_signal_and_surveillance_ends(session) -> None:  # type: ignore[no-untyped-def]
    """200 patients, 28 days each at risk: 200 x 28 x lambda = 10.3 expected by the end, so the
    surveillance length of 4 is reached; 4 events spread out do not cross the boundary."""
    ids = _cohort(session, 200, every=0.25)
    store_observations(session, IntakeResult([_grade(ids[k], _at(k / 4 + 10)) for k in (5, 60, 120, 190)]), _at(90))
    session.commit()
    run = run_cohort_surveillance(session, SPEC, load_products(), now=_at(90), rules=RULES)
    assert not run.test.signalled and run.test.ended
    assert run.test.expected[-1] == pytest.approx(4.0)
    assert run.test.observed[-1] < 4  # events after the end of surveillance are not counted
    assert run.signal_time is None and run.alert_id is None


def test_unknown_product_is_named(session) -> None:  # type: ignore[no-untyped-def]
    from cgtvigil.errors import ValidationError

    spec = CohortSpec(**{**SPEC.model_dump(), "products": ("kymriah", "nope")})
    with pytest.raises(ValidationError, match="'nope'"):
        run_cohort_surveillance(session, spec, load_products(), now=_at(1), rules=RULES)


# -- the command line ----------------------------------------------------------------------------


def test_cli_run_signals_writes_the_path_and_its_chart(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from cgtvigil.cli import app

    url = f"sqlite:///{tmp_path / 'op.db'}"
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", url)
    engine = operational_engine(url)
    with session_factory(engine)() as s:
        ids = _cohort(s, 40)
        store_observations(s, IntakeResult([_grade(p, _at(i + 2)) for i, p in enumerate(ids) if i % 4 == 0]), _at(60))
        s.commit()
    engine.dispose()
    spec = tmp_path / "cohort.json"
    spec.write_text(SPEC.model_dump_json(), "utf-8")
    runner = CliRunner()
    args = ["sequential", "run", str(spec), "--now", "2026-03-01T00:00:00+00:00"]
    r = runner.invoke(app, [*args, "--plot", str(tmp_path / "path.json"), "--json", str(tmp_path / "run.json")])
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())
    assert (
        "SIGNAL at 2026-01-07T00:00:00+00:00: alert 1 raised" in text
        and "40 patients; at 2026-01-07T00:00:00+00:00: 2 events vs 0.031 expected" in text
    )
    chart = json.loads((tmp_path / "path.json").read_text("utf-8"))
    assert chart["layer"][2]["data"]["values"] == [{"cv": pytest.approx(maxsprt_poisson_cv(4.0, minimum_events=2).cv)}]
    run = json.loads((tmp_path / "run.json").read_text("utf-8"))
    assert run["summary"]["signalled"] and run["spec"] == SPEC.model_dump(mode="json")
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "alert 1 already raised" in " ".join(again.stdout.split())
    spec.write_text('{"name": "x", "products": []}', "utf-8")
    bad = runner.invoke(app, args)
    assert bad.exit_code == 2 and "products" in bad.output and "Traceback" not in bad.output


def test_cli_cv_prints_the_documented_value(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Sequential's documented CV.Poisson(SampleSize=10) = 3.467952 and Performance.Poisson power 0.6850634."""
    import json

    from typer.testing import CliRunner

    from cgtvigil.cli import app

    runner = CliRunner()
    r = runner.invoke(
        app, ["sequential", "cv", "--length", "10", "--rr", "2", "--json", str(tmp_path / "cv.json"),
              "--plot", str(tmp_path / "boundary.json")]
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "critical value (LLR) 3.467952" in r.stdout and "0.6851" in r.stdout
    doc = json.loads((tmp_path / "cv.json").read_text("utf-8"))
    assert doc["cv"] == pytest.approx(3.467952, abs=1e-6) and len(doc["boundary"]) == 20
    chart = json.loads((tmp_path / "boundary.json").read_text("utf-8"))
    # from the start 1 event signals until mu_1 = 0.0116 expected; 20 are needed at the end (T = 10)
    values = chart["data"]["values"]
    assert values[0] == {"look": 0.0, "threshold": 1} and values[-1] == {"look": 10.0, "threshold": 20}
    bad = runner.invoke(app, ["sequential", "cv", "--length", "30", "--groups", "10,10"])
    assert bad.exit_code == 2 and "add up to the surveillance length" in " ".join(bad.output.split())
    for args, message in (
        (["--z", "2"], "belongs to the binomial model"),
        (["--delay", "2", "--groups", "5,5"], "belongs to continuous designs"),
    ):
        r = runner.invoke(app, ["sequential", "cv", "--length", "10", *args])
        assert r.exit_code == 2 and message in " ".join(r.output.split()), r.output
