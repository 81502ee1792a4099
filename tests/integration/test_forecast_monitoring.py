"""Predictive monitoring (issue 16) on the operational store and the web application: the daily
roll-up query, the risk curve on the patient page and in the JSON API (with its band and the
inputs that moved it), the plain message without a model, the scope (404) and the audit of
the read, and the forecast alert's life-cycle (one alert while it is active). Models: course
models fitted with bootstrap refits on SYNTHETIC trajectories (cgtvigil.synth)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import joblib
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cgtvigil.access import create_user, scope_for
from cgtvigil.api import create_app
from cgtvigil.config import Settings
from cgtvigil.forecasting import CourseForecaster, DailyTable, bootstrap_refits
from cgtvigil.ingest import IntakeResult
from cgtvigil.model import Observation
from cgtvigil.monitoring import (
    PlanRules,
    acknowledge,
    daily_rollup,
    evaluate_forecast,
    load_forecast_models,
    register_patient,
    resolve,
    store_observations,
)
from cgtvigil.store import AlertEventRow, AlertRow, AuditRow, load_products, operational_engine, session_factory
from cgtvigil.synth import TrajectoryConfig, simulate_trajectories

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a CRS and an ICANS course model, 5 bootstrap refits each."""
    folder = tmp_path_factory.mktemp("models")
    daily, _ = simulate_trajectories(TrajectoryConfig(patients=80, seed=11))
    table = DailyTable.from_columns({k: daily.column(k).to_numpy(zero_copy_only=False) for k in daily.column_names})
    for target in ("crs", "icans"):
        model = CourseForecaster(target=target, horizon=7).fit(table)  # type: ignore[arg-type]
        saved = {"software": "test", "family": "course", "forecaster": model}
        joblib.dump(saved | {"bootstrap": bootstrap_refits(model, table, n=5)}, folder / f"{target}.joblib")
    return folder


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """argon2 at its smallest cost for the fixture's users (as in test_web)."""
    from argon2 import PasswordHasher

    from cgtvigil.access import _passwords

    monkeypatch.setattr(_passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    _passwords._dummy_hash.cache_clear()
    yield
    _passwords._dummy_hash.cache_clear()


def _patient(session, pid: str, site: str, now: datetime, days: int = 3) -> None:  # type: ignore[no-untyped-def]
    """Infused ``days`` days ago; fever, CRP (mg/dL), ferritin and IL-6 rising every day, no grade."""
    register_patient(
        session, load_products(), patient=pid, site=site, product="yescarta", infusion_date=now.date() - timedelta(days)
    )
    day0 = datetime.combine(now.date() - timedelta(days), datetime.min.time(), UTC)
    obs = []
    for d in range(days + 1):
        t = min(day0 + timedelta(days=d, hours=7), now)
        for kind, value, unit in (
            ("temperature", 38.0 + 0.5 * d, "Cel"),
            ("crp", 2.0 + 4 * d, "mg/dL"),
            ("ferritin", 500.0 * (d + 1), "ng/mL"),
            ("il6", 20.0 * (d + 1) ** 2, "pg/mL"),
        ):
            obs.append(Observation(patient=pid, kind=kind, value=value, unit=unit, time=t, source="fhir"))
    # an earlier, lower reading of the same day: the roll-up keeps the maximum
    obs.append(
        Observation(patient=pid, kind="crp", value=1.0, unit="mg/dL", time=day0 + timedelta(hours=2), source="fhir")
    )
    store_observations(session, IntakeResult(obs), now)


def test_daily_rollup_is_daily_maxima_in_canonical_units(operational_url: str) -> None:
    now = datetime.now(UTC)
    engine = operational_engine(operational_url)
    with session_factory(engine)() as s:
        _patient(s, "P-R1", "A", now)
        s.commit()
        rollup = daily_rollup(s, scope_for_admin(s, now), "P-R1")
    engine.dispose()
    assert rollup.days == [0, 1, 2, 3]
    assert rollup.columns["crp_mg_l"] == pytest.approx([20.0, 60.0, 100.0, 140.0])  # mg/dL x 10, maxima
    assert rollup.columns["max_temp_c"] == pytest.approx([38.0, 38.5, 39.0, 39.5])
    assert set(rollup.columns) == {"crp_mg_l", "max_temp_c", "ferritin_ng_ml", "il6_pg_ml"}


def test_daily_rollup_marks_treatment_days_and_reads_age_and_product(operational_url: str) -> None:
    """A tocilizumab dose (a masking agent of a CRS assessment) marks its day; platelets in
    10^9/L; the age at infusion from the registry's birth date and the product id."""
    from cgtvigil.store import PatientRow

    now = datetime.now(UTC)
    engine = operational_engine(operational_url)
    with session_factory(engine)() as s:
        _patient(s, "P-R2", "A", now, days=2)
        s.get(PatientRow, "P-R2").birth_date = (now - timedelta(days=int(61.5 * 365.25) + 2)).date()
        day0 = datetime.combine(now.date() - timedelta(2), datetime.min.time(), UTC)
        extra = [
            Observation(
                patient="P-R2",
                kind="masking_agent:tocilizumab",
                value=1.0,
                unit="{dose}",
                time=day0 + timedelta(days=1, hours=3),
                source="clinician",
            ),
            Observation(
                patient="P-R2", kind="plt", value=85.0, unit="10^9/L", time=day0 + timedelta(hours=5), source="fhir"
            ),
        ]
        store_observations(s, IntakeResult(extra), now)
        s.commit()
        rollup = daily_rollup(s, scope_for_admin(s, now), "P-R2")
    engine.dispose()
    assert rollup.columns["tocilizumab"] == [None, 1.0, None]
    assert rollup.columns["plt_1e9_l"] == [85.0, None, None]
    assert rollup.product == "yescarta" and rollup.age == pytest.approx(61.5, abs=0.1)
    table = rollup.table()
    assert table.text["product"].tolist() == ["yescarta"] * 3 and np.isnan(table.values["steroids"]).all()


def scope_for_admin(session, now: datetime):  # type: ignore[no-untyped-def]
    user = create_user(session, username=f"adm{now.microsecond}", password=PASSWORD, role="administrator", at=now)
    return scope_for(user)


def test_forecast_crossing_the_threshold_raises_one_alert(operational_url: str, models: Path) -> None:
    """Crossing (threshold 1 %): one warning alert per outcome, updated, not repeated, while it is
    open or acknowledged; once resolved, a forecast still above opens a new one. Below the
    threshold (100 %): none."""
    now = datetime.now(UTC)
    found = load_forecast_models(models / "crs.joblib")
    low = PlanRules(forecast_alert=0.01, forecast_alert_severe=1.0)
    engine = operational_engine(operational_url)
    with session_factory(engine)() as s:
        _patient(s, "P-F1", "A", now)
        _patient(s, "P-F2", "A", now)
        s.commit()
        first = evaluate_forecast(s, "P-F1", found, now=now, plan_rules=low)
        assert [a.rule for a in first] == ["forecast_crs"] and first[0].severity == "warning"
        assert "cgtvigil-plan-rules-0.3" in first[0].message and "band" in first[0].message
        evaluate_forecast(s, "P-F1", found, now=now + timedelta(minutes=5), plan_rules=low)
        acknowledge(s, first[0].id, "inv.user", now + timedelta(minutes=6))
        evaluate_forecast(s, "P-F1", found, now=now + timedelta(minutes=7), plan_rules=low)
        s.commit()
        alerts = s.scalars(select(AlertRow).where(AlertRow.patient_id == "P-F1")).all()
        assert [(a.rule, a.count, a.status) for a in alerts] == [("forecast_crs", 3, "acknowledged")]
        events = s.scalars(select(AlertEventRow.status).where(AlertEventRow.alert_id == alerts[0].id)).all()
        assert list(events) == ["open", "acknowledged"]
        resolve(s, alerts[0].id, "inv.user", now + timedelta(minutes=8))
        again = evaluate_forecast(s, "P-F1", found, now=now + timedelta(minutes=9), plan_rules=low)
        assert len(again) == 1 and again[0].id != alerts[0].id
        assert evaluate_forecast(s, "P-F2", found, now=now, plan_rules=PlanRules(forecast_alert=1.0)) == []
        s.commit()
    engine.dispose()


def _login(client: TestClient, username: str) -> None:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token
    r = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf": token.group(1)}, follow_redirects=False
    )
    assert r.status_code == 303


def _app(tmp_path: Path, operational_url: str, model: Path | None):  # type: ignore[no-untyped-def]
    app = create_app(
        Settings(
            db=tmp_path / "none.duckdb",
            screen_result=tmp_path / "none.parquet",
            operational_url=operational_url,
            secret_key="k",
            forecast_model=model,
        )
    )
    now = datetime.now(UTC)
    with app.state.sessions() as s:
        _patient(s, "P-A1", "A", now)
        _patient(s, "P-B1", "B", now)
        create_user(s, username="inv.a", password=PASSWORD, role="site_investigator", at=now, site="A")
        create_user(s, username="inv.b", password=PASSWORD, role="site_investigator", at=now, site="B")
        s.commit()
    return app


@pytest.mark.usefixtures("cheap_argon2")
def test_patient_page_and_api_show_the_risk_curve(tmp_path: Path, operational_url: str, models: Path) -> None:
    app = _app(tmp_path, operational_url, models)
    with TestClient(app) as c:
        _login(c, "inv.a")
        page = c.get("/patients/P-A1").text
        api = c.get("/api/v1/patients/P-A1/forecast").json()
        _login(c, "inv.b")  # another site: the patient does not exist for this account
        assert c.get("/patients/P-A1").status_code == 404
        assert c.get("/api/v1/patients/P-A1/forecast").status_code == 404
    section = page[page.index('id="forecast"') : page.index("Open alerts")]
    assert "CRS onset (grade ≥ 1)" in section and "ICANS grade ≥ 3" in section and "by day 10" in section
    assert "raised the risk" in section and "bootstrap resamples" in section and "cgtvigil-plan-rules-0.3" in section
    spec = json.loads(re.search(r"data-vega='([^']+)'", section).group(1).replace("&#34;", '"').replace("&amp;", "&"))  # type: ignore[union-attr]
    lines = spec["layer"][1]["data"]["values"]
    assert {v["outcome"] for v in lines} == {
        "CRS onset (grade ≥ 1)",
        "CRS grade ≥ 3",
        "ICANS onset (grade ≥ 1)",
        "ICANS grade ≥ 3",
    }
    assert all(v["low"] <= v["high"] for v in lines) and {v["ahead"] for v in lines} == set(range(1, 8))
    assert api["configured"] and len(api["curves"]) == 4 and api["curves"][0]["refits"] == 5
    assert all(len(c["points"]) == 7 and c["origin_day"] == 3 for c in api["curves"])
    assert any(c["drivers"] for c in api["curves"])
    with app.state.sessions() as s:
        parts = [
            (a.action, (a.detail or {}).get("part"))
            for a in s.scalars(select(AuditRow).where(AuditRow.target == "patient:P-A1"))
        ]
    assert ("patient.read", None) in parts and ("patient.read", "forecast") in parts
    app.state.engine.dispose()


@pytest.mark.usefixtures("cheap_argon2")
def test_without_a_model_the_page_says_so(tmp_path: Path, operational_url: str) -> None:
    app = _app(tmp_path, operational_url, None)
    with TestClient(app) as c:
        _login(c, "inv.a")
        page = c.get("/patients/P-A1").text
        api = c.get("/api/v1/patients/P-A1/forecast").json()
    assert "No forecasting model is configured for this deployment" in page
    assert api["configured"] is False and api["curves"] == []
    app.state.engine.dispose()


def test_gateway_ingest_raises_the_forecast_alert_once(operational_url: str, models: Path) -> None:
    """Readings arriving through a gateway re-evaluate the forecast at the plan rules' default
    thresholds: a patient with fever and rising CRP, ferritin and IL-6 crosses 30 % for CRS onset,
    and a second batch updates the open alert instead of opening another."""
    from cgtvigil.monitoring import forecast_for, register_gateway

    app = create_app(Settings(operational_url=operational_url, secret_key="k", forecast_model=models / "crs.joblib"))
    now = datetime.now(UTC).replace(microsecond=0)
    with app.state.sessions() as s:
        token = register_gateway(s, "ward-7-hub", "A")
        _patient(s, "P-G1", "A", now)
        s.commit()
        risk = forecast_for(s, "P-G1", load_forecast_models(models / "crs.joblib")).curves[0].points[-1].risk
    assert risk >= PlanRules().forecast_alert

    def point(i: int, minutes: int) -> dict[str, object]:
        at = (now - timedelta(minutes=minutes)).isoformat()
        return {
            "header": {
                "id": str(i),
                "creation_date_time": at,
                "user_id": "P-G1",
                "schema_id": {"namespace": "omh", "name": "body-temperature", "version": "4.0"},
            },
            "body": {"body_temperature": {"value": 38.4, "unit": "C"}, "effective_time_frame": {"date_time": at}},
        }

    client = TestClient(app)
    auth = {"Authorization": f"Bearer {token}"}
    for batch in ([point(1, 30)], [point(2, 20)]):
        assert client.post("/api/v1/ingest/omh", json=batch, headers=auth).status_code == 200
    with app.state.sessions() as s:
        found = [
            (a.rule, a.count, a.status) for a in s.scalars(select(AlertRow).where(AlertRow.rule.like("forecast%")))
        ]
    assert found == [("forecast_crs", 2, "open")]
    app.state.engine.dispose()
