"""Forecasting benchmark (issue 16): fit and predict time of the three model families
(window classifier on the daily or the known-at-time features, discrete-time hazard, course
model) on a SYNTHETIC cohort from `cgtvigil synth trajectories --realistic` (default 1,000
patients, 22 days each).

fit: one model on every patient (ICANS grade >= 1; the window classifier 5 days ahead, the
hazard and course models with a 7-day curve); predict: every patient-day of the same cohort
(the hazard model's risk by day 1-7; the course model's 64 simulated grade paths per day).
Prints a table and writes benchmarks/forecast_results.json.

Usage: python benchmarks/forecast.py [--patients 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from cgtvigil.forecasting import CourseForecaster, DailyTable, HazardForecaster, ToxicityForecaster
from cgtvigil.synth import TrajectoryConfig, simulate_trajectories

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    daily, _ = simulate_trajectories(TrajectoryConfig(patients=args.patients, seed=16, realistic=True))
    table = DailyTable.from_columns({k: daily.column(k).to_numpy(zero_copy_only=False) for k in daily.column_names})
    makers: dict[str, Callable[[], ToxicityForecaster | HazardForecaster | CourseForecaster]] = {
        "window (boosting)": lambda: ToxicityForecaster(target="icans", min_grade=1, horizon=5),
        "window (logistic)": lambda: ToxicityForecaster(target="icans", min_grade=1, horizon=5, model="logistic"),
        "window (known, logistic)": lambda: ToxicityForecaster(
            target="icans", min_grade=1, horizon=5, model="logistic", features="known"
        ),
        "hazard (logistic)": lambda: HazardForecaster(target="icans", min_grade=1, horizon=7),
        "course (multinomial)": lambda: CourseForecaster(target="icans", horizon=7),
    }
    rows = []
    for name, make in makers.items():
        fit_s, predict_s = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            model = make().fit(table)
            fit_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            model.predict_proba(table)
            predict_s.append(time.perf_counter() - t0)
        rows.append(
            {
                "family": name,
                "fit_s": round(min(fit_s), 2),
                "predict_s": round(min(predict_s), 2),
                "predict_us_per_patient_day": round(1e6 * min(predict_s) / len(table), 1),
            }
        )
    result = {
        "patients": args.patients,
        "patient_days": len(table),
        "repeats": args.repeats,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "rows": rows,
    }
    (HERE / "forecast_results.json").write_text(json.dumps(result, indent=2))
    print(f"{args.patients:,} patients, {len(table):,} patient-days (best of {args.repeats})")
    print(f"{'family':<26}{'fit (s)':>10}{'predict (s)':>13}{'µs/patient-day':>16}")
    for r in rows:
        print(f"{r['family']:<26}{r['fit_s']:>10.2f}{r['predict_s']:>13.2f}{r['predict_us_per_patient_day']:>16.1f}")


if __name__ == "__main__":
    main()
