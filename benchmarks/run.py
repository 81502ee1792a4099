"""cgtvigil benchmarks: prints a table and writes JSON (benchmarks/results.json).

Measured, each in its own subprocess (wall time and peak RSS of that process):

- floor     a bare DuckDB read of the long file plus GROUP BY of the distinct pairs and the
            drug, event and total margins (what any screen must at least do);
- cgtvigil  the all-pairs screen end to end from the same file: counting, PRR, ROR, IC and
            EBGM with a fitted prior (``cgtvigil.screening.screen_long_file``, default spec);
- vigipy    the same input through vigipy (PyPI): pandas read, distinct-report counts per
            pair, ``convert``, then ``prr``, ``ror``, ``bcpnn`` and ``gps`` (sizes it can finish);
- read      the quarter's members read by pyarrow's CSV reader (the floor of the ingest);
- ingest    a synthetic FAERS quarter of 200,000 reports through ``ingest_faers`` into a new
            DuckDB store, de-duplication and drug-name mapping included.

Usage: python benchmarks/run.py [--sizes 100000,1000000,5000000] [--vigipy-max 1000000] [--repeat 3]
       python benchmarks/run.py --sizes ""     (the ingest benchmark only; keeps stored screen rows)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"

FLOOR = """
import duckdb, sys
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
src = f"read_parquet('{sys.argv[1]}')"
con.execute(f"CREATE TEMP TABLE l AS SELECT DISTINCT id, var1, var2 FROM {src}")
pairs = con.sql("SELECT var1, var2, count(*) AS n FROM l GROUP BY var1, var2").to_arrow_table()
nd = con.sql("SELECT var1, count(DISTINCT id) AS n FROM l GROUP BY var1").to_arrow_table()
ne = con.sql("SELECT var2, count(DISTINCT id) AS n FROM l GROUP BY var2").to_arrow_table()
nt = con.sql("SELECT count(DISTINCT id) FROM l").fetchall()
print(pairs.num_rows)
"""

CGTVIGIL = """
import sys
from pathlib import Path
import warnings
from cgtvigil.model import SignalSpec
from cgtvigil.screening import screen_long_file
warnings.simplefilter("ignore")
r = screen_long_file(Path(sys.argv[1]), SignalSpec())
print(r.table.num_rows)
"""

VIGIPY = """
import sys, warnings
import pandas as pd
import vigipy
warnings.simplefilter("ignore")
df = pd.read_parquet(sys.argv[1], columns=["id", "var1", "var2"])
counts = df.drop_duplicates().groupby(["var1", "var2"], sort=False).size().reset_index(name="count")
counts = counts.rename(columns={"var1": "name", "var2": "AE"})
container = vigipy.convert(counts)
for method in (vigipy.prr, vigipy.ror, vigipy.bcpnn, vigipy.gps):
    method(container)
print(len(counts))
"""

READ_QUARTER = """
import sys, zipfile
import pyarrow as pa, pyarrow.csv as pacsv
rows = 0
with zipfile.ZipFile(sys.argv[1]) as zf:
    for info in zf.infolist():
        if info.filename.rsplit("/", 1)[-1][:4].upper() in ("DEMO", "DRUG", "REAC", "OUTC", "RPSR", "THER", "INDI"):
            with zf.open(info) as fh:
                t = pacsv.read_csv(
                    fh,
                    read_options=pacsv.ReadOptions(use_threads=True),
                    parse_options=pacsv.ParseOptions(delimiter="$", quote_char=False),
                    convert_options=pacsv.ConvertOptions(column_types={}, strings_can_be_null=False),
                )
                rows += t.num_rows
print(rows)
"""

INGEST = """
import sys, warnings
from pathlib import Path
from cgtvigil.screening import ingest_faers
from cgtvigil.store import FaersStore, load_products
warnings.simplefilter("ignore")
db = Path(sys.argv[2])
db.unlink(missing_ok=True)
with FaersStore(db) as store:
    report = ingest_faers([Path(sys.argv[1])], store, load_products())
print(report.cases["cases_after_dedup"])
"""


def measure(code: str, *args: str, repeat: int = 1) -> dict[str, float | str]:
    """Median wall time, CPU time (user + sys) and peak RSS over ``repeat`` runs."""
    return summarise([_measure_once(code, *args) for _ in range(repeat)])


def summarise(runs: list[dict[str, float | str]]) -> dict[str, float | str]:
    """Medians of runs (each run's figures kept in ``runs``): on a shared machine the CPU time
    varies less than the wall time."""
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    out: dict[str, float | str] = {
        k: round(statistics.median(float(r[k]) for r in runs), 3) for k in ("seconds", "cpu_seconds", "peak_rss_mb")
    }
    out["output"] = runs[-1]["output"]
    if len(runs) > 1:
        out["runs"] = json.dumps([{k: r[k] for k in ("seconds", "cpu_seconds", "peak_rss_mb")} for r in runs])
    return out


def _measure_once(code: str, *args: str) -> dict[str, float | str]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    if status != 0:
        return {
            "seconds": seconds,
            "peak_rss_mb": usage.ru_maxrss / 1024,
            # the exception's own lines (a DuckDB message spans several; its last is a link)
            "error": " | ".join(err.strip().splitlines()[-20:]) if err else f"exit {status}",
        }
    last = out.strip().splitlines()[-1] if out.strip() else ""
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "output": last,
    }


def _median_ratio(pairs: list[tuple[dict[str, float | str], dict[str, float | str]]], key: str) -> float | None:
    if any("error" in f or "error" in o for f, o in pairs):
        return None
    return round(statistics.median(float(o[key]) / float(f[key]) for f, o in pairs), 2)


def machine() -> dict[str, str | int]:
    import duckdb
    import numpy

    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "?",
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "memory_gb": round(int(mem) / 1024 / 1024),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "numpy": numpy.__version__,
        "os": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000,5000000")
    parser.add_argument("--vigipy-max", type=int, default=1_000_000)
    parser.add_argument("--ingest-reports", type=int, default=200_000)
    parser.add_argument("--output", type=Path, default=HERE / "results.json")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement (medians are reported)")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    from cgtvigil.store import load_products
    from cgtvigil.synth import SynthConfig, generate_faers, generate_long

    results: dict[str, object] = {"machine": machine(), "screen": [], "ingest": {}}
    if not args.sizes and args.output.exists():  # ingest only: keep the stored screen rows
        results["screen"] = json.loads(args.output.read_text())["screen"]
    for size in (int(s) for s in args.sizes.split(",") if s):
        path = WORK / f"long_{size}.parquet"
        if not path.exists():
            rows = generate_long(path, size, seed=size)
        else:
            import pyarrow.parquet as pq

            rows = pq.ParquetFile(path).metadata.num_rows
        # floor and cgtvigil alternate, so that a change in the machine's load hits both
        pairs = [(_measure_once(FLOOR, str(path)), _measure_once(CGTVIGIL, str(path))) for _ in range(args.repeat)]
        floor, ours = summarise([f for f, _ in pairs]), summarise([o for _, o in pairs])
        theirs = (
            measure(VIGIPY, str(path))  # once: at 100+ s the noise matters less
            if size <= args.vigipy_max
            else {"skipped": f"above --vigipy-max {args.vigipy_max}"}
        )
        row = {
            "reports": size,
            "rows": rows,
            "pairs": int(ours.get("output", 0) or 0),
            "floor": floor,
            "cgtvigil": ours,
            "vigipy": theirs,
            # median of the per-run ratios (each cgtvigil run against the floor run just before it)
            "ratio_to_floor": _median_ratio(pairs, "seconds"),
            "cpu_ratio_to_floor": _median_ratio(pairs, "cpu_seconds"),
        }
        if "seconds" in theirs and "error" not in theirs:
            row["speedup_vs_vigipy"] = round(float(theirs["seconds"]) / float(ours["seconds"]), 1)
        results["screen"].append(row)  # type: ignore[attr-defined]
        print(json.dumps(row), flush=True)
    quarter = WORK / f"synth_{args.ingest_reports}" / "faers_ascii_2024q1.zip"
    if not quarter.exists():
        generate_faers(
            quarter.parent,
            load_products(),
            SynthConfig(reports_per_quarter=args.ingest_reports, quarters=("2024Q1",), seed=3),
        )
    runs = [
        (_measure_once(READ_QUARTER, str(quarter)), _measure_once(INGEST, str(quarter), str(WORK / "ingest.duckdb")))
        for _ in range(args.repeat)
    ]
    ing = summarise([i for _, i in runs])
    results["ingest"] = {
        "reports": args.ingest_reports,
        **ing,
        "read_floor": summarise([r for r, _ in runs]),
        "ratio_to_read": _median_ratio(runs, "seconds"),
        "cpu_ratio_to_read": _median_ratio(runs, "cpu_seconds"),
    }
    print(json.dumps(results["ingest"]), flush=True)
    args.output.write_text(json.dumps(results, indent=2))
    print_table(results)


def print_table(results: dict) -> None:
    head = ("reports", "rows", "pairs", "floor s", "cgtvigil s", "ratio", "CPU ratio", "RSS MB", "vigipy s", "speedup")
    widths = (10, 11, 9, 8, 10, 6, 9, 8, 9, 8)
    print()
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, widths, strict=True)))
    for r in results["screen"]:
        v = r["vigipy"]
        vs = f"{v['seconds']:.1f}" if "seconds" in v and "error" not in v else ("error" if "error" in v else "-")
        cells = (
            f"{r['reports']:,}",
            f"{r['rows']:,}",
            f"{r['pairs']:,}",
            f"{r['floor']['seconds']:.2f}",
            f"{r['cgtvigil']['seconds']:.2f}",
            f"{r['ratio_to_floor']:.2f}",
            f"{r.get('cpu_ratio_to_floor') or 0:.2f}",
            f"{r['cgtvigil']['peak_rss_mb']:.0f}",
            vs,
            str(r.get("speedup_vs_vigipy", "-")),
        )
        print(" ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    i = results["ingest"]
    print(
        f"\nFAERS ingest of one {i['reports']:,}-report quarter (+ de-duplication, drug mapping): "
        f"{i['seconds']:.2f} s, peak RSS {i['peak_rss_mb']:.0f} MB; reading its files "
        f"{i.get('read_floor', {}).get('seconds', float('nan')):.2f} s (ratio {i.get('ratio_to_read')}, "
        f"CPU ratio {i.get('cpu_ratio_to_read')})"
    )


if __name__ == "__main__":
    main()
