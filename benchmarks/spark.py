"""The Spark counting engine against DuckDB: prints a table and writes JSON
(benchmarks/spark_results.json).

Per size, each in its own subprocess, on the same SYNTHETIC long file as benchmarks/run.py
(``work/long_<size>.parquet``, made by ``cgtvigil.synth.generate_long`` when missing):

- duckdb   the all-pairs screen (PRR, ROR, IC, EBGM with a fitted prior) counted by DuckDB;
- spark    the same screen counted by Spark (``--master``, default ``local[*]``): the process's
           wall time, the JVM's start, the screen alone, and the JVM's peak resident memory
           (VmHWM; the Python process's peak RSS is given apart).

Both must give the same number of pairs. Spark in local mode on one machine costs more than
DuckDB: the row shows what the Spark path costs, not a reason to use it on one machine.

Usage: python benchmarks/spark.py [--sizes 1000000] [--master local[2]] [--repeat 1]
       python benchmarks/spark.py --sizes 1000000,5000000     (above what CI affords)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from run import CGTVIGIL, HERE, WORK, machine, summarise
from run import _measure_once as measure_once

SPARK = """
import json, sys, time, warnings
from pathlib import Path
start = time.perf_counter()
from cgtvigil.engine import SparkEngine, spark_session
from cgtvigil.model import SignalSpec
from cgtvigil.screening import screen_long_file
warnings.simplefilter("ignore")
session = spark_session(sys.argv[2])
started = time.perf_counter()
r = screen_long_file(Path(sys.argv[1]), SignalSpec(), engine=SparkEngine(session))
done = time.perf_counter()
status = Path(f"/proc/{session.sparkContext._gateway.proc.pid}/status").read_text()
hwm = next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmHWM"))
session.stop()
print(json.dumps({"pairs": r.table.num_rows, "jvm_start_s": round(started - start, 3),
                  "screen_s": round(done - started, 3), "jvm_peak_mb": round(hwm / 1024, 1)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000")
    parser.add_argument("--master", default="local[*]", help="Spark master (local mode by default)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement (medians are reported)")
    parser.add_argument("--output", type=Path, default=HERE / "spark_results.json")
    parser.add_argument("--note", default="", help="recorded with the figures (e.g. the machine's load)")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    from cgtvigil.engine import spark_missing
    from cgtvigil.synth import generate_long

    problem = spark_missing(args.master)
    if problem:
        sys.exit(f"benchmarks/spark.py: {problem}")
    import pyspark

    with open("/proc/loadavg") as fh:
        load = fh.read().split()[:3]
    results: dict[str, object] = {
        "machine": {**machine(), "pyspark": pyspark.__version__, "load_average_at_start": " ".join(load)},
        "master": args.master,
        "note": args.note,
        "screen": [],
    }
    for size in (int(s) for s in args.sizes.split(",") if s):
        path = WORK / f"long_{size}.parquet"
        if not path.exists():
            generate_long(path, size, seed=size)
        pairs = [
            (measure_once(CGTVIGIL, str(path)), measure_once(SPARK, str(path), args.master)) for _ in range(args.repeat)
        ]
        duck, spark = summarise([d for d, _ in pairs]), summarise([s for _, s in pairs])
        row: dict[str, object] = {"reports": size, "duckdb": duck, "spark": spark}
        if "error" not in spark and "error" not in duck:
            detail = json.loads(str(spark["output"]))
            row["spark_detail"] = detail
            row["same_pairs"] = int(detail["pairs"]) == int(duck["output"])
            row["ratio_to_duckdb"] = round(float(spark["seconds"]) / float(duck["seconds"]), 2)
        results["screen"].append(row)  # type: ignore[attr-defined]
        print(json.dumps(row), flush=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def print_table(results: dict) -> None:
    head = ("reports", "duckdb s", "spark s", "JVM start s", "spark screen s", "JVM peak MB", "ratio", "same pairs")
    print(" | ".join(head))
    for r in results["screen"]:
        d, s, x = r["duckdb"], r["spark"], r.get("spark_detail", {})
        cells = (
            f"{r['reports']:,}",
            str(d.get("seconds", d.get("error"))),
            str(s.get("seconds", s.get("error"))),
            str(x.get("jvm_start_s", "")),
            str(x.get("screen_s", "")),
            str(x.get("jvm_peak_mb", "")),
            str(r.get("ratio_to_duckdb", "")),
            str(r.get("same_pairs", "")),
        )
        print(" | ".join(cells))


if __name__ == "__main__":
    main()
