"""Learned ranking (issue 14): feature extraction and ranking time on SYNTHETIC FAERS stores.

For each size N (default 1,000,000 reports; 8 quarters of N/8) the generator's zips are
ingested once into ``benchmarks/work/rank_N.duckdb`` (not timed here: ``run.py`` measures the
ingest); then, each in its own process (``run.measure``: wall time, CPU time and peak RSS, imports
included; the phase is also timed inside the process):

- features  ``pair_features`` of every (drug, PT) pair: three SQL passes (counts and the MGPS
            prior, masked counts, descriptive aggregates) and the join;
- rank      features, then ``fit_reference`` on the manifest and ``score_features`` of every
            pair (fit and score timed alone as the phase);
- evaluate  features, then ``evaluate_reference`` (5 folds grouped by drug, 1000 cluster-bootstrap
            resamples; timed alone as the phase).

Usage: python benchmarks/ranking.py [--sizes 1000000] [--output benchmarks/ranking_results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from run import WORK, machine, measure

HERE = Path(__file__).resolve().parent

FEATURES = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
from cgtvigil.screening import pair_features
from cgtvigil.store import FaersStore, load_products
t, c = time.perf_counter(), time.process_time()
with FaersStore(sys.argv[1], read_only=True) as store:
    f = pair_features(store, load_products())
s, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"pairs": f.table.num_rows, "phase_s": s, "phase_cpu_s": cpu}))
"""

RANK = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
from cgtvigil.screening import fit_reference, load_reference_set, pair_features, score_features
from cgtvigil.store import FaersStore, load_products
with FaersStore(sys.argv[1], read_only=True) as store:
    f = pair_features(store, load_products())
t, c = time.perf_counter(), time.process_time()
ranker, mapping = fit_reference(f, load_reference_set(sys.argv[2]), load_products())
scored = score_features(f, ranker)
print(json.dumps({"pairs": scored.num_rows, "labelled": mapping["mapped"], "phase_s": time.perf_counter() - t,
                  "phase_cpu_s": time.process_time() - c}))
"""

EVALUATE = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
from cgtvigil.screening import evaluate_reference, load_reference_set, pair_features
from cgtvigil.store import FaersStore, load_products
with FaersStore(sys.argv[1], read_only=True) as store:
    f = pair_features(store, load_products())
t, c = time.perf_counter(), time.process_time()
r = evaluate_reference(f, load_reference_set(sys.argv[2]), load_products(), n_boot=1000)
m = r.evaluation.margin("auroc")
print(json.dumps({"labelled": r.mapping["mapped"], "ranker_auroc": r.evaluation.figure("ranker", "auroc")["estimate"],
                  "margin_auroc": m["estimate"], "margin_lower": m["lower"], "against": m["against"],
                  "phase_s": time.perf_counter() - t, "phase_cpu_s": time.process_time() - c}))
"""


def _store(n: int) -> tuple[Path, Path]:
    from cgtvigil.screening import ingest_faers
    from cgtvigil.store import FaersStore, load_products
    from cgtvigil.synth import SynthConfig, generate_faers

    db = WORK / f"rank_{n}.duckdb"
    zips = WORK / f"rank_{n}_zips"
    manifest = zips / "synthetic_manifest.json"
    if db.exists() and manifest.exists():
        return db, manifest
    quarters = tuple(f"{y}Q{q}" for y in (2023, 2024) for q in range(1, 5))
    generate_faers(zips, load_products(), SynthConfig(reports_per_quarter=n // 8, quarters=quarters, seed=14))
    with warnings.catch_warnings(), FaersStore(db) as store:
        warnings.simplefilter("ignore")
        ingest_faers(sorted(zips.glob("*.zip")), store, load_products())
    return db, manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000")
    parser.add_argument("--output", type=Path, default=HERE / "ranking_results.json")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    results: dict = {"machine": machine(), "sizes": {}}
    for n in (int(s) for s in args.sizes.split(",")):
        db, manifest = _store(n)
        row = {}
        for name, code in (("features", FEATURES), ("rank", RANK), ("evaluate", EVALUATE)):
            row[name] = measure(code, str(db), str(manifest))
            print(f"{n:>9,} {name:9s} {json.dumps(row[name])}", file=sys.stderr)
        results["sizes"][str(n)] = row
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'reports':>9s} {'phase':9s} {'seconds':>9s} {'cpu s':>9s} {'RSS MB':>9s}  output")
    for n, row in results["sizes"].items():
        for name, r in row.items():
            print(f"{int(n):>9,} {name:9s} {r.get('seconds', '-')!s:>9s} {r.get('cpu_seconds', '-')!s:>9s} "
                  f"{r.get('peak_rss_mb', '-')!s:>9s}  {r.get('output', r.get('error', ''))}")  # fmt: skip


if __name__ == "__main__":
    main()
