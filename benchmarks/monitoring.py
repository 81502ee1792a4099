"""Monitoring benchmark: 1,000 patients streaming skin temperature every 2 minutes plus
hourly heart rate and SpO2, posted as Open mHealth batches by 20 gateways (one request per
gateway per 2-minute tick) to the HTTP API served by uvicorn in a second process on loopback.

Reports the sustained ingestion rate (observations/s) against the real-time rate of that
cohort, and the latency from sending a batch to receiving its response, which carries the
alerts raised (p50, p99), for all batches and for batches that raised an alert.
Writes benchmarks/monitoring_results.json.

Usage: python benchmarks/monitoring.py [--patients 1000] [--minutes 60]

With --postgres the store is a private PostgreSQL server (scripts/postgres.sh, on a free
loopback port; or --postgres-url) and the API runs as `cgtvigil serve --workers N`; the
gateways post concurrently (--concurrency requests in flight), the temperature comes every
--interval minutes for --hours simulated hours, compressed (each tick is sent as soon as the
previous one is answered). Reported: p50/p95/p99 of every post and of arrival-to-alert (the
post that carries a patient's third febrile reading, whose answer comes after the alert is
committed; each such alert is then checked in the store), throughput in observations/s, and
patient evaluations/s in the first and the last tenth of the run (does it fall as history
grows?). With --pace F the ticks come at F times real time instead, each gateway's post at
its own moment of the tick, and latency is measured from that moment: the latency of a load
below capacity, where a saturated run measures queueing. Writes
benchmarks/monitoring_results_pg<N>_<patients>[_pace<F>].json.

    python benchmarks/monitoring.py --postgres --workers 2 --patients 10000 --hours 1
    python benchmarks/monitoring.py --postgres --workers 2 --patients 1000 --hours 24
    python benchmarks/monitoring.py --postgres --workers 2 --patients 10000 --hours 24 --pace 30
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from _server import start_server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


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
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL store, several workers, a day")
    parser.add_argument("--postgres-url", help="an empty PostgreSQL database instead of a private server")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours (--postgres)")
    parser.add_argument("--interval", type=int, default=5, help="minutes between temperature readings (--postgres)")
    parser.add_argument("--concurrency", type=int, default=0, help="posts in flight (--postgres; 2 x workers)")
    parser.add_argument(
        "--history-hours",
        type=float,
        default=0.0,
        help="--postgres: store this many hours of normal readings before the run, as if the patients had "
        "been monitored that long (a full 24 h evaluation window from the first tick)",
    )
    parser.add_argument(
        "--pace",
        type=float,
        default=0.0,
        help="--postgres: send the ticks at this many times real time, each gateway's post at its own moment "
        "of the tick (latency at a load below capacity, measured from that moment); 0: each tick as soon as the "
        "previous one is answered (throughput at saturation)",
    )
    args = parser.parse_args()
    if args.postgres or args.postgres_url:
        run_postgres(args)
        return
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "n": 0}
    out: dict[str, float | int | None] = {
        f"p{q}": round(1000 * float(np.percentile(values, q)), 1) for q in (50, 95, 99)
    }
    return out | {"max": round(1000 * max(values), 1), "n": len(values)}


def run_postgres(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp())
    pgdir = None
    url = args.postgres_url
    if url is None:
        tmp.chmod(0o755)  # the server runs as the postgres user, which must reach its folder
        pgdir = tmp / "pg"
        url = (
            subprocess.run(
                ["bash", str(ROOT / "scripts" / "postgres.sh"), "start", str(pgdir), str(_free_port())],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
    env = {**os.environ, "CGTVIGIL_OPERATIONAL_URL": url, "CGTVIGIL_SECRET_KEY": "b" * 48}
    server = None
    try:
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
        pids = [f"B-{i:05d}" for i in range(args.patients)]
        t_reg = time.perf_counter()
        register(url, pids)
        registration = time.perf_counter() - t_reg
        start_sim = datetime.now(UTC) - timedelta(hours=args.hours)
        t_hist = time.perf_counter()
        history = _store_history(url, pids, start_sim, args.history_hours, args.interval)
        history_seconds = time.perf_counter() - t_hist
        server, base = start_server(env, workers=args.workers, log=_server_log())
        ticks = int(args.hours * 60 // args.interval)
        rng = np.random.default_rng(7)
        febrile = rng.choice(args.patients, args.patients // 20, replace=False)  # 5 % develop fever
        onset = {int(i): int(rng.integers(0, max(ticks - 3, 1))) for i in febrile}  # any time of the day
        alert_tick: dict[int, list[int]] = {}
        for i, t in onset.items():
            alert_tick.setdefault(t + 2, []).append(i)  # the third febrile reading alerts
        hourly = max(60 // args.interval, 1)
        groups = np.array_split(np.arange(args.patients), args.gateways)
        concurrency = args.concurrency or (args.gateways if args.pace else 2 * args.workers)
        tick_seconds = args.interval * 60 / args.pace if args.pace else 0.0
        client = httpx.Client(
            base_url=base,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=60,
            # an idle connection is dropped before the server's 5 s keep-alive ends it, so a
            # paced gateway never reuses one the server is closing (connection reset)
            limits=httpx.Limits(max_connections=concurrency, keepalive_expiry=2.0),
        )

        refusals: list[str] = []  # one per 503 answer (the store was busy), resent as a gateway would

        def post(job: tuple[bytes, float | None]) -> tuple[float, dict]:
            body, due = job  # due: when the gateway sends it (paced), else now
            if due is not None and due > time.perf_counter():
                time.sleep(due - time.perf_counter())
            sent = due if due is not None else time.perf_counter()
            while True:
                r = client.post("/api/v1/ingest/omh", content=body)
                if r.status_code != 503 or len(refusals) >= 1000:
                    break
                refusals.append(r.text)
                time.sleep(float(r.headers.get("Retry-After", "1")))
            elapsed = time.perf_counter() - sent
            r.raise_for_status()
            return elapsed, r.json()

        latencies: list[float] = []
        alert_latencies: list[float] = []
        tick_rates: list[tuple[int, float]] = []  # (observations, seconds) per tick
        late: list[float] = []  # paced: how late each tick's first post was sent (s)
        observations = 0
        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            for tick in range(ticks):
                when = start_sim + timedelta(minutes=args.interval * tick)
                bodies, carries_alert = [], []
                for g in groups:
                    batch = []
                    for i in g:
                        fever = int(i) in onset and tick >= onset[int(i)]
                        temp = 36.7 + rng.normal(0, 0.1) + (1.8 if fever else 0.0)
                        batch.append(point(pids[i], "body-temperature", "body_temperature", temp, "C", when))
                        if tick % hourly == 0:
                            hr = 80 + rng.normal(0, 8)
                            batch.append(point(pids[i], "heart-rate", "heart_rate", hr, "beats/min", when))
                            sat = 97 + rng.normal(0, 0.8)
                            batch.append(point(pids[i], "oxygen-saturation", "oxygen_saturation", sat, "%", when))
                    bodies.append(json.dumps(batch).encode())
                    carries_alert.append(bool(set(alert_tick.get(tick, ())) & {int(i) for i in g}))
                started = time.perf_counter()
                if args.pace:
                    dues = [t0 + tick_seconds * (tick + g / len(bodies)) for g in range(len(bodies))]
                    late.append(max(0.0, started - dues[0]))
                else:
                    dues = [None] * len(bodies)
                loaded = 0
                jobs = zip(bodies, dues, strict=True)
                for (elapsed, body), alerting in zip(pool.map(post, jobs), carries_alert, strict=True):
                    loaded += body["loaded"]
                    latencies.append(elapsed)
                    if alerting:
                        alert_latencies.append(elapsed)
                tick_rates.append((loaded, time.perf_counter() - started))
                observations += loaded
        wall = time.perf_counter() - t0
        load = os.getloadavg()
        visible = _alerts_in_store(url, [pids[i] for i in onset if onset[i] + 2 < ticks])
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if pgdir is not None:
            subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "stop", str(pgdir)], check=False)
    tenth = max(len(tick_rates) // 10, 1)

    def rate(part: list[tuple[int, float]]) -> float:
        """Patient evaluations per second (each post evaluates each of its patients once; the
        hourly ticks carry three readings a patient, the others one)."""
        return round(args.patients * len(part) / sum(s for _, s in part), 1)

    realtime = args.patients * (1 / (60 * args.interval) + 2 / 3600)
    result = {
        "store": "postgresql",
        "workers": args.workers,
        "concurrency": concurrency,
        "pace_times_realtime": args.pace or None,
        "ticks_started_late_s_max": round(max(late), 2) if late else None,
        "patients": args.patients,
        "gateways": args.gateways,
        "simulated_hours": args.hours,
        "temperature_every_minutes": args.interval,
        "ticks": ticks,
        "registration_seconds": round(registration, 1),
        "history_hours": args.history_hours,
        "history_observations": history,
        "history_store_seconds": round(history_seconds, 1),
        "observations": observations,
        "wall_seconds": round(wall, 1),
        "rate_obs_per_s": round(observations / wall, 1),
        "evaluations_per_s_first_tenth": rate(tick_rates[:tenth]),
        "evaluations_per_s_last_tenth": rate(tick_rates[-tenth:]),
        "realtime_obs_per_s": round(realtime, 2),
        "times_realtime": round(observations / wall / realtime, 1),
        "post_latency_ms": _pct(latencies),
        "arrival_to_alert_ms": _pct(alert_latencies),
        "alerts_expected": sum(1 for i in onset if onset[i] + 2 < ticks),
        "alerts_visible_in_store": visible,
        "posts_refused_503": len(refusals),
        "load_average_1_5_15_at_end": [round(x, 2) for x in load],
        "cpus": os.cpu_count(),
    }
    paced = f"_pace{args.pace:g}" if args.pace else ""
    out = HERE / f"monitoring_results_pg{args.workers}_{args.patients}{paced}.json"
    out.write_text(json.dumps(result, indent=2))
    a, b = result["post_latency_ms"], result["arrival_to_alert_ms"]
    first, last = result["evaluations_per_s_first_tenth"], result["evaluations_per_s_last_tenth"]
    rows = [
        ("patients", f"{args.patients:,}"),
        ("simulated hours / temperature every", f"{args.hours:g} h / {args.interval} min"),
        ("history stored before the run", f"{args.history_hours:g} h ({history:,} observations)"),
        ("observations / wall", f"{observations:,} / {wall:.1f} s"),
        ("throughput", f"{result['rate_obs_per_s']:,.0f} obs/s ({result['times_realtime']:g}x real time)"),
        ("patient evaluations/s first / last tenth", f"{first:,.0f} / {last:,.0f}"),
        ("post p50 / p95 / p99", f"{a['p50']} / {a['p95']} / {a['p99']} ms ({a['n']})"),
        ("arrival-to-alert p50 / p95 / p99", f"{b['p50']} / {b['p95']} / {b['p99']} ms ({b['n']})"),
        ("posts refused (503, resent)", f"{len(refusals):,}"),
        ("pace / latest tick start", f"{args.pace:g}x real time / {max(late):.2f} s late" if late else "saturated"),
        ("workers / posts in flight", f"{args.workers} / {concurrency}"),
        ("load average at the end", " ".join(f"{x:.1f}" for x in load)),
    ]  # fmt: skip
    for name, value in rows:
        print(f"{name:<42} {value}")
    print(f"alerts visible in the store: {visible} of {result['alerts_expected']}; wrote {out.relative_to(ROOT)}")


def _store_history(url: str, pids: list[str], end: datetime, hours: float, interval: int) -> int:
    """Store ``hours`` of normal readings before ``end`` for every patient (temperature every
    ``interval`` minutes, heart rate and SpO2 hourly), with COPY: what the store holds after
    that long a stream, without streaming it. Returns the number of rows."""
    if hours <= 0:
        return 0
    import psycopg

    rng = np.random.default_rng(11)
    steps = int(hours * 60 // interval)
    received = end.replace(tzinfo=None)
    columns = "patient_id, kind, value, unit, time, source, device, location, received_at, superseded, is_correction"
    n = 0
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as con, con.cursor() as cur:
        with cur.copy(f"COPY observation ({columns}) FROM STDIN") as copy:
            for k in range(steps, 0, -1):
                when = received - timedelta(minutes=interval * k)
                hourly = (steps - k) % max(60 // interval, 1) == 0
                temps = 36.7 + rng.normal(0, 0.1, len(pids))
                for i, pid in enumerate(pids):
                    copy.write_row((pid, "temperature", round(float(temps[i]), 2), "C", when, "omh", "", "history",
                                    received, False, False))  # fmt: skip
                    n += 1
                    if hourly:
                        copy.write_row((pid, "heart_rate", 80.0, "beats/min", when, "omh", "", "history", received,
                                        False, False))  # fmt: skip
                        copy.write_row((pid, "spo2", 97.0, "%", when, "omh", "", "history", received, False, False))
                        n += 2
        cur.execute("ANALYZE observation")
    return n


def _server_log() -> Path:
    """benchmarks/work/monitoring_server.log, emptied: the server's output for this run."""
    log = HERE / "work" / "monitoring_server.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text("")
    return log


def _alerts_in_store(url: str, pids: list[str]) -> int:
    """How many of ``pids`` have a sensor fever alert in the store."""
    from sqlalchemy import func, select

    from cgtvigil.store import AlertRow, operational_engine

    engine = operational_engine(url)
    with engine.connect() as con:
        n = con.execute(
            select(func.count(func.distinct(AlertRow.patient_id))).where(
                AlertRow.rule == "sensor_fever", AlertRow.patient_id.in_(pids)
            )
        ).scalar_one()
    engine.dispose()
    return int(n)


if __name__ == "__main__":
    main()
