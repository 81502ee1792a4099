"""Genotoxicity benchmark: per-sample diversity of the 24,170 real SCID-X1 integration sites
(Clarke et al. 2018, ../shared/data/genotoxicity) by cgtvigil (``clone_diversity`` per sample and
quantification, and the whole ``sample_stats`` query service on a SQLite store) against a naive
pandas approach (groupby with Python lambdas per statistic: IS count, Shannon, Gini-Simpson, Gini,
top clone), both from the same parsed table. Prints a table and writes JSON
(benchmarks/genotox_results.json); the best of ``--repeat`` runs; the two give the same numbers
(checked here, to 1e-9 relative).

Usage: python benchmarks/genotox.py [--repeat 5] [--output benchmarks/genotox_results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("CGTVIGIL_SHARED_DATA") or HERE.parents[1] / "shared" / "data")
SITES = SHARED / "genotoxicity" / "clarke2018_scidx1_intsites.csv"


def naive_pandas(d: pd.DataFrame) -> dict[tuple[str, str], tuple[float, ...]]:
    import pandas as pd

    long = d.melt(id_vars=["sample"], value_vars=["reads", "inferredCells"], var_name="q", value_name="x")
    long = long[long.x > 0]

    def shannon(x: pd.Series) -> float:
        p = x / x.sum()
        return float(-(p * np.log(p)).sum())

    def simpson(x: pd.Series) -> float:
        p = x / x.sum()
        return float(1 - (p**2).sum())

    def gini(x: pd.Series) -> float:
        v = np.sort(x.to_numpy())
        n = len(v)
        return 0.0 if n == 1 else float(((2 * np.arange(1, n + 1) - n - 1) * v).sum() / (n * v.sum()))

    g = long.groupby(["sample", "q"]).x
    out = pd.DataFrame(
        {
            "n": g.count(),
            "shannon": g.apply(shannon),
            "simpson": g.apply(simpson),
            "gini": g.apply(gini),
            "top": g.apply(lambda x: float(x.max() / x.sum())),
        }
    )
    return {k: tuple(float(v) for v in row) for k, row in zip(out.index, out.to_numpy(), strict=True)}


def cgtvigil_diversity(d: pd.DataFrame) -> dict[tuple[str, str], tuple[float, ...]]:
    from cgtvigil.clonality import clone_diversity

    by = {
        (sample, q): part[q].to_numpy(dtype=float)
        for sample, part in d.groupby("sample", sort=False)
        for q in ("reads", "inferredCells")
    }
    out = {}
    for k, x in by.items():
        d = clone_diversity(x)
        out[k] = (float(d.n_is), d.shannon, d.simpson, d.gini, d.top_fraction)
    return out


def cgtvigil_store(path: Path, db: Path) -> int:
    """Read, store (SQLite) and the sample_stats query service: what `cgtvigil genotox stats` does."""
    from cgtvigil.genotox import read_long_sites, sample_stats, store_sites
    from cgtvigil.store import Scope, load_watchlist, operational_engine, session_factory

    engine = operational_engine(f"sqlite:///{db}")
    with session_factory(engine)() as s:
        store_sites(s, read_long_sites(path, genome="hg38"), datetime.now(UTC), watchlist=load_watchlist("hg38")[1])
        s.commit()
        n = len(sample_stats(s, Scope(actor="bench", all_patients=True)))
    engine.dispose()
    return n


def best(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--output", type=Path, default=HERE / "genotox_results.json")
    args = ap.parse_args()
    import pandas as pd

    frame = pd.read_csv(SITES)  # both start from the same parsed table: the statistics are timed
    t_pd, ref = best(lambda: naive_pandas(frame), args.repeat)
    t_cg, ours = best(lambda: cgtvigil_diversity(frame), args.repeat)
    assert ref.keys() == ours.keys()  # type: ignore[union-attr]
    for k, v in ours.items():  # type: ignore[union-attr]
        assert np.allclose(v, ref[k], rtol=1e-9, atol=0), k  # type: ignore[index]
    with tempfile.TemporaryDirectory() as tmp:
        t_st, n = best(lambda: cgtvigil_store(SITES, Path(tmp) / f"op{time.time_ns()}.db"), max(1, args.repeat // 2))
    rows = {
        "pandas_naive_s": round(t_pd, 3),
        "cgtvigil_clone_diversity_s": round(t_cg, 3),
        "speed_up_vs_pandas": round(t_pd / t_cg, 2),
        "cgtvigil_ingest_store_and_sample_stats_s": round(t_st, 3),
        "samples_x_quantifications": len(ours),  # type: ignore[arg-type]
        "sample_stats_rows": n,
        "sites": 24_170,
        "repeat": args.repeat,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "load_average_at_end": round(os.getloadavg()[0], 2),
    }
    for k, v in rows.items():
        print(f"{k:45s} {v}")
    args.output.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
