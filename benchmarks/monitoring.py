"""Monitoring benchmark: 1,000 patients streaming skin temperature every 2 minutes plus
hourly heart rate and SpO2, posted as Open mHealth batches by 20 gateways (one request per
gateway per 2-minute tick) to the HTTP API served by uvicorn in a second process on loopback.

Reports the sustained ingestion rate (observations/s) against the real-time rate of that
cohort, and the latency from sending a batch to receiving its response, which carries the
alerts raised (p50, p99), for all batches and for batches that raised an alert.
Writes benchmarks/monitoring_results.json.

Usage: python benchmarks/monitoring.py [--patients 1000] [--minutes 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from _server import start_server

HERE = Path(__file__).resolve().parent


def point(pid: str, name: str, field: str, value: float, unit: str, when: datetime) -> dict:
    t = when.isoformat()
    return {
        "header": {
            "id": f"{pid}-{name}-{t}",
            "creation_date_time": t,
            "user_id": pid,
            "schema_id": {"namespace": "omh", "name": name, "version": "4.0" if name == "body-temperature" else "2.0"},
        },
        "body": {field: {"value": round(value, 2), "unit": unit}, "effective_time_frame": {"date_time": t}},
    }


def register(url: str, pids: list[str]) -> None:
    from cgtvigil.monitoring import register_patient
    from cgtvigil.store import load_products, operational_engine, session_factory

    engine = operational_engine(url)
    with session_factory(engine)() as s:
        for pid in pids:
            register_patient(
                s, load_products(), patient=pid, site="bench", product="yescarta", infusion_date=date.today()
            )
        s.commit()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--gateways", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    env = {**os.environ, "CGTVIGIL_OPERATIONAL_URL": f"sqlite:///{tmp / 'op.db'}", "CGTVIGIL_SECRET_KEY": "b" * 48}
    token = (
        subprocess.run(
            [sys.executable, "-m", "cgtvigil.cli", "monitor", "gateway-add", "bench", "--site", "bench"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    pids = [f"B-{i:04d}" for i in range(args.patients)]
    register(env["CGTVIGIL_OPERATIONAL_URL"], pids)  # gateways write only to registered patients of their site
    server, base = start_server(env)
    try:
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        rng = np.random.default_rng(7)
        febrile = set(rng.choice(args.patients, args.patients // 20, replace=False))  # 5 % develop fever
        start_sim = datetime.now(UTC) - timedelta(minutes=args.minutes)
        groups = np.array_split(np.arange(args.patients), args.gateways)
        latencies, alert_latencies, observations = [], [], 0
        t0 = time.perf_counter()
        for tick in range(args.minutes // 2):
            when = start_sim + timedelta(minutes=2 * tick)
            for g in groups:
                batch = []
                for i in g:
                    fever = i in febrile and tick >= (args.minutes // 4)
                    temp = 36.7 + rng.normal(0, 0.1) + (1.8 if fever else 0.0)
                    batch.append(point(pids[i], "body-temperature", "body_temperature", temp, "C", when))
                    if tick % 30 == 0:
                        batch.append(
                            point(pids[i], "heart-rate", "heart_rate", 80 + rng.normal(0, 8), "beats/min", when)
                        )
                        batch.append(
                            point(pids[i], "oxygen-saturation", "oxygen_saturation", 97 + rng.normal(0, 0.8), "%", when)
                        )
                sent = time.perf_counter()
                r = client.post("/api/v1/ingest/omh", json=batch)
                elapsed = time.perf_counter() - sent
                r.raise_for_status()
                body = r.json()
                observations += body["loaded"]
                latencies.append(elapsed)
                if body["alerts_raised"]:
                    alert_latencies.append(elapsed)
        wall = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(timeout=10)
    realtime = args.patients * (1 / 120 + 2 / 3600)  # observations per second of this cohort in real life
    result = {
        "patients": args.patients,
        "simulated_minutes": args.minutes,
        "observations": observations,
        "wall_seconds": round(wall, 2),
        "rate_obs_per_s": round(observations / wall, 1),
        "realtime_obs_per_s": round(realtime, 2),
        "times_realtime": round(observations / wall / realtime, 1),
        "batch_latency_ms": {
            "p50": round(1000 * float(np.percentile(latencies, 50)), 1),
            "p99": round(1000 * float(np.percentile(latencies, 99)), 1),
        },
        "alert_latency_ms": {
            "p50": round(1000 * float(np.percentile(alert_latencies, 50)), 1) if alert_latencies else None,
            "p99": round(1000 * float(np.percentile(alert_latencies, 99)), 1) if alert_latencies else None,
            "n": len(alert_latencies),
        },
    }
    (HERE / "monitoring_results.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
