"""Web benchmark (issue #5): with a 1M-report screen and 1,000 monitored patients (3 days of
skin temperature every 2 minutes each, open alerts for a third), 20 concurrent users on
loopback (half safety scientists, half site investigators, each opening the pages their role
may see) request the signals table, the monitoring board and a patient page, and the same
reads from the JSON API (signals page, board, patient summary, 3 days of observations);
p50/p95 latency per page and route. Users log in before the clock starts; --think adds a pause after every page and a
random arrival. The server is `cgtvigil serve` in a second process: one uvicorn worker on an
SQLite operational store, or with --postgres a PostgreSQL server started here
(scripts/postgres.sh) and --workers N uvicorn workers, the configuration a hospital deploys.
Writes benchmarks/web_results[_pg<N>][_think<T>].json.

--cpu N measures instead what does not depend on the machine's load: one worker, one user at a
time, N requests of each page per role in a row, and the CPU time they cost the server process
(all its threads), the PostgreSQL server (every backend, with --postgres) and this client, from
/proc (Linux); writes benchmarks/web_cpu_results[_pg].json. With 20 requests always in flight
on 2 cores, a page's latency is roughly its CPU (server + database) times the requests in
flight per core, so these figures say which pages keep the p95 up.

Usage: python benchmarks/web.py [--patients 1000] [--users 20] [--rounds 10] [--think 0]
                                [--postgres] [--workers 1] [--cpu N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from _server import start_server

HERE = Path(__file__).resolve().parent
POSTGRES = HERE.parent / "scripts" / "postgres.sh"
PASSWORD = "benchmark password 1"


def build(tmp: Path, patients: int, screen_source: Path, url: str | None = None) -> dict[str, str]:
    from sqlalchemy import insert

    from cgtvigil.access import create_user
    from cgtvigil.model import SignalSpec
    from cgtvigil.monitoring import MonitoringRules, raise_alert, register_patient
    from cgtvigil.screening import screen_long_file, write_result
    from cgtvigil.store import ObservationRow, load_products, operational_engine, session_factory

    result = tmp / "screen.parquet"
    write_result(screen_long_file(screen_source, SignalSpec()), result)
    url = url or f"sqlite:///{tmp / 'op.db'}"
    engine = operational_engine(url)
    products = load_products()
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    rng = np.random.default_rng(1)
    brands = ["kymriah", "yescarta", "breyanzi", "carvykti", "abecma", "tecartus"]
    with session_factory(engine)() as s:
        for i in range(patients):
            register_patient(
                s,
                products,
                patient=f"B-{i:04d}",
                site="A" if i % 2 == 0 else "B",
                product=brands[i % 6],
                infusion_date=(now - timedelta(days=int(rng.integers(1, 20)))).date(),
            )
        s.commit()
        rows = []
        minutes = np.arange(0, 3 * 1440, 2)
        for i in range(patients):
            temps = 36.7 + rng.normal(0, 0.15, len(minutes))
            for m, t in zip(minutes, temps, strict=True):
                rows.append(
                    {
                        "patient_id": f"B-{i:04d}",
                        "kind": "temperature",
                        "value": float(t),
                        "unit": "Cel",
                        "time": now - timedelta(minutes=int(3 * 1440 - m)),
                        "source": "omh",
                        "device": "patch",
                        "location": "",
                        "received_at": now,
                        "superseded": False,
                        "is_correction": False,
                    }
                )
            if len(rows) > 200_000:
                s.execute(insert(ObservationRow), rows)
                rows = []
        if rows:
            s.execute(insert(ObservationRow), rows)
        for i in range(0, patients, 3):
            raise_alert(s, f"B-{i:04d}", "sensor_fever", "high", "temperature >= 38.0 °C", now, MonitoringRules())
        create_user(s, username="bench.inv", password=PASSWORD, role="site_investigator", at=now, site="A")
        create_user(
            s, username="bench.sci", password=PASSWORD, role="safety_scientist", at=now, sponsor_products=tuple(brands)
        )
        s.commit()
    engine.dispose()
    return {"CGTVIGIL_OPERATIONAL_URL": url, "CGTVIGIL_SCREEN_RESULT": str(result), "CGTVIGIL_SECRET_KEY": "bench"}


# What each role opens in a round: site investigators may not see the spontaneous-report screen.
PAGES = {
    "bench.sci": {
        "signals": "/signals",
        "monitoring board": "/monitoring",
        "patient page": "/patients/B-0002",
        "api signals": "/api/v1/signals?level=pt&sort=ic025&order=asc&page_size=100",
        "api patient": "/api/v1/patients/B-0002",
    },
    "bench.inv": {
        "monitoring board": "/monitoring",
        "patient page": "/patients/B-0002",
        "api board": "/api/v1/patients",
        "api observations": "/api/v1/patients/B-0002/observations?kind=temperature",
    },
}


def user_loop(
    base: str,
    user: str,
    rounds: int,
    think: float,
    start: float,
    ready: threading.Barrier,
    out: dict[str, list[float]],
    lock: threading.Lock,
) -> None:
    with httpx.Client(base_url=base, timeout=60) as c:
        # log in before the clock starts: argon2 is slow on purpose and a log-in is not a page view
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
        c.post("/login", data={"username": user, "password": PASSWORD, "csrf": token})
        ready.wait(timeout=300)
        time.sleep(start)  # users do not all arrive in the same millisecond
        for _ in range(rounds):
            for name, path in PAGES[user].items():
                t = time.perf_counter()
                r = c.get(path)
                elapsed = time.perf_counter() - t
                if r.status_code != 200:
                    with lock:
                        out["errors"].append(elapsed)
                    raise SystemExit(f"{user} GET {path}: HTTP {r.status_code}")
                with lock:
                    out[name].append(elapsed)
                time.sleep(think)  # a person reads the page before the next click


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--think", type=float, default=0.0, help="seconds each user pauses between pages")
    parser.add_argument("--screen-source", type=Path, default=HERE / "work" / "long_1000000.parquet")
    parser.add_argument("--postgres", action="store_true", help="a PostgreSQL operational store (started here)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (PostgreSQL for more than 1)")
    parser.add_argument("--data", type=Path, help="build the SQLite data into this folder once and reuse it later")
    parser.add_argument("--cpu", type=int, default=0, metavar="N", help="CPU per request of each page (N in a row)")
    args = parser.parse_args()
    if args.cpu and args.workers != 1:
        parser.error("--cpu measures one worker process")
    if args.workers > 1 and not args.postgres:
        parser.error("several workers need --postgres (SQLite is one process's store)")
    if not args.screen_source.exists():
        from cgtvigil.synth import generate_long

        args.screen_source.parent.mkdir(exist_ok=True)
        generate_long(args.screen_source, 1_000_000, seed=1_000_000)
    if args.data and args.postgres:
        parser.error("--data keeps an SQLite store; leave it out with --postgres")
    tmp = args.data or Path(tempfile.mkdtemp())
    tmp.mkdir(parents=True, exist_ok=True)
    tmp.chmod(0o755)  # the postgres user must reach its data directory
    pg, url, setup = tmp / "pg", None, 0.0
    if args.postgres:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        url = subprocess.run([POSTGRES, "start", pg, str(port)], check=True, capture_output=True, text=True).stdout
    server = None
    try:
        saved = tmp / "env.json"
        if args.data and saved.exists():  # built by an earlier run with the same --data
            built = json.loads(saved.read_text())
        else:
            t0 = time.perf_counter()
            built = build(tmp, args.patients, args.screen_source, url.strip() if url else None)
            setup = time.perf_counter() - t0
            saved.write_text(json.dumps(built))
        server, base = start_server({**os.environ, **built}, workers=args.workers)
        result = cpu_run(base, server.pid, pg if args.postgres else None, args.cpu) if args.cpu else run(base, args)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if args.postgres:
            subprocess.run([POSTGRES, "stop", pg], check=False)
    result = {
        "operational_store": "postgresql" if args.postgres else "sqlite",
        "workers": args.workers,
        "patients": args.patients,
        "concurrent_users": args.users,
        "think_seconds": args.think,
        "setup_seconds": round(setup, 1),
        **result,
    }
    if args.cpu:
        name = "web_cpu_results" + ("_pg" if args.postgres else "") + ".json"
        for key in ("concurrent_users", "think_seconds"):
            result.pop(key)
    else:
        name = "web_results" + (f"_pg{args.workers}" if args.postgres else "")
        name += f"_think{args.think:g}.json" if args.think else ".json"
    (HERE / name).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_seconds(pg: Path) -> float:
    """CPU time of a PostgreSQL server: the postmaster and every process it started."""
    master = int((pg / "data" / "postmaster.pid").read_text().split()[0])
    total = _cpu_seconds(master)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == master:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):  # the process ended meanwhile
            continue
    return total


def cpu_run(base: str, server_pid: int, pg: Path | None, n: int) -> dict[str, object]:
    """CPU milliseconds per request of every page and role, one request at a time."""
    pages: dict[str, dict[str, float | int]] = {}
    for user, paths in PAGES.items():
        with httpx.Client(base_url=base, timeout=300) as c:
            token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
            c.post("/login", data={"username": user, "password": PASSWORD, "csrf": token})
            for name, path in paths.items():
                for _ in range(3):  # warm: the screen read and sorted, the statements compiled
                    c.get(path)
                server0, db0 = _cpu_seconds(server_pid), _postgres_seconds(pg) if pg else 0.0
                client0, wall0 = time.process_time(), time.perf_counter()
                size = 0
                for _ in range(n):
                    r = c.get(path)
                    if r.status_code != 200:
                        raise SystemExit(f"{user} GET {path}: HTTP {r.status_code}")
                    size = len(r.content)
                wall, client = time.perf_counter() - wall0, time.process_time() - client0
                server, db = _cpu_seconds(server_pid) - server0, (_postgres_seconds(pg) - db0) if pg else 0.0
                key = f"{name} ({user.removeprefix('bench.')})"
                pages[key] = {
                    "n": n,
                    "server_cpu_ms": round(1000 * server / n, 2),
                    "postgres_cpu_ms": round(1000 * db / n, 2),
                    "client_cpu_ms": round(1000 * client / n, 2),
                    "wall_ms": round(1000 * wall / n, 2),
                    "bytes": size,
                }
                p = pages[key]
                print(
                    f"{key:30s} server {p['server_cpu_ms']:6.1f} ms  postgres {p['postgres_cpu_ms']:5.1f} ms  "
                    f"client {p['client_cpu_ms']:4.1f} ms  wall {p['wall_ms']:6.1f} ms  {size:,} B",
                    flush=True,
                )
    # the benchmark's mix: as many scientists as investigators, each page once a round
    mean = {
        k: round(sum(float(p[k]) for p in pages.values()) / len(pages), 2)
        for k in ("server_cpu_ms", "postgres_cpu_ms", "client_cpu_ms")
    }
    return {"cpu_per_request": pages, "mean_over_the_mix": mean, "load_average": list(os.getloadavg())}


def run(base: str, args: argparse.Namespace) -> dict[str, object]:
    """Log the users in, run the rounds; the request count, wall time and latencies per page."""
    warm = httpx.Client(base_url=base, timeout=300)
    token = re.search(r'name="csrf" value="([^"]+)"', warm.get("/login").text).group(1)  # type: ignore[union-attr]
    warm.post("/login", data={"username": "bench.sci", "password": PASSWORD, "csrf": token})
    # Each worker reads the screen result and sorts it the benchmark's two ways once, as the
    # day's first users would: a new connection per request, so that the workers share them.
    for _ in range(4 * args.workers):
        for path in (PAGES["bench.sci"]["signals"], PAGES["bench.sci"]["api signals"]):
            with httpx.Client(base_url=base, timeout=300, cookies=warm.cookies) as fresh:
                fresh.get(path)
    out: dict[str, list[float]] = {name: [] for pages in PAGES.values() for name in pages} | {"errors": []}
    lock = threading.Lock()
    ready = threading.Barrier(args.users + 1)
    starts = np.random.default_rng(5).uniform(0, args.think, args.users)  # all zero without think time
    threads = [
        threading.Thread(
            target=user_loop,
            args=(base, "bench.inv" if k % 2 else "bench.sci", args.rounds, args.think, starts[k], ready, out, lock),
        )
        for k in range(args.users)
    ]
    for t in threads:
        t.start()
    ready.wait(timeout=300)  # every user is logged in
    t1 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t1
    if out.pop("errors"):
        raise SystemExit("some requests failed: the latencies would not describe 20 working users")
    users = {"bench.inv": args.users // 2, "bench.sci": args.users - args.users // 2}
    for user, pages in PAGES.items():
        for name in pages:
            if len(out[name]) < users[user] * args.rounds:  # a user thread stopped on an exception
                raise SystemExit(f"{name}: {len(out[name])} answers, expected {users[user] * args.rounds}")
    requests = sum(len(v) for v in out.values())
    return {
        "requests": requests,
        "wall_seconds": round(wall, 1),
        "requests_per_second": round(requests / wall, 1),
        "pages": {
            k: {
                "n": len(v),
                "p50_ms": round(1000 * float(np.percentile(v, 50)), 1),
                "p95_ms": round(1000 * float(np.percentile(v, 95)), 1),
            }
            for k, v in out.items()
        },
    }


if __name__ == "__main__":
    main()
