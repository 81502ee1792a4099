"""End to end on the SYNTHETIC simulator through the HTTP endpoint: registered patients, a
2-minute wearable temperature stream and daily labs as FHIR bundles; patients whose simulated
CRS reaches fever get a sensor-fever alert, afebrile patients none (expected by construction)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
from fastapi.testclient import TestClient
from sqlalchemy import select

from cgtvigil.api import create_app
from cgtvigil.config import Settings
from cgtvigil.monitoring import MonitoringRules, register_gateway, register_patient
from cgtvigil.store import AlertRow, load_products
from cgtvigil.synth import TrajectoryConfig, simulate_trajectories, wearable_temperature


def test_simulated_patients_through_the_api(tmp_path: Path) -> None:
    daily, patients = simulate_trajectories(TrajectoryConfig(patients=8, days=6, seed=11))
    # readings every 10 minutes here, so the persistence filter's window is widened to 30 minutes
    rules = MonitoringRules(fever_window_minutes=30)
    app = create_app(
        Settings(operational_url=f"sqlite:///{tmp_path / 'e2e.db'}", secret_key="test-secret-key-" * 4), rules=rules
    )
    day0 = (datetime.now(UTC) - timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
    ids = patients.column("patient_id").to_pylist()
    with app.state.sessions() as s:
        token = register_gateway(s, "sim-hub", "site-SIM")
        for pid, product in zip(ids, patients.column("product").to_pylist(), strict=True):
            register_patient(
                s,
                load_products(),
                patient=pid,
                site="site-SIM",
                product=product,
                infusion_date=date.fromisoformat(day0.date().isoformat()),
            )
        s.commit()
    client = TestClient(app)
    auth = {"Authorization": f"Bearer {token}"}
    stream = wearable_temperature(daily, seed=2, every_minutes=10)  # every 10 min keeps the test quick
    for pid in ids:
        rows = stream.filter(pc.equal(stream.column("patient_id"), pid))
        minutes = rows.column("minute").to_numpy()
        temps = rows.column("temperature_c").to_numpy()
        points = [
            {
                "header": {
                    "id": f"{pid}-{m}",
                    "creation_date_time": (day0 + timedelta(minutes=int(m))).isoformat(),
                    "user_id": pid,
                    "schema_id": {"namespace": "omh", "name": "body-temperature", "version": "4.0"},
                },
                "body": {
                    "body_temperature": {"value": float(t), "unit": "C"},
                    "effective_time_frame": {"date_time": (day0 + timedelta(minutes=int(m))).isoformat()},
                },
            }
            for m, t in zip(minutes, temps, strict=True)
        ]
        body = client.post("/api/v1/ingest/omh", json=points, headers=auth).json()
        assert body["loaded"] == len(points) and body["quarantined"] == 0
    with app.state.sessions() as s:
        fevered = set(s.scalars(select(AlertRow.patient_id).where(AlertRow.rule == "sensor_fever")))
    # truth: the patient's skin temperature exceeds 38 °C for at least 30 minutes on some day
    crs_days = daily.filter(pc.greater(daily.column("max_temp_c"), 38.6))
    expected = set(crs_days.column("patient_id").to_pylist())
    assert expected and expected <= fevered
    quiet = daily.group_by("patient_id").aggregate([("max_temp_c", "max")])
    afebrile = {
        p
        for p, t in zip(quiet.column("patient_id").to_pylist(), quiet.column("max_temp_c_max").to_pylist(), strict=True)
        if t < 37.8
    }
    assert not (afebrile & fevered)
    app.state.engine.dispose()
