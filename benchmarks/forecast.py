"""Forecasting benchmark (issue 16): fit and predict time of the three model families
(window classifier on the daily or the known-at-time features, discrete-time hazard, course
model) on a SYNTHETIC cohort from `cgtvigil synth trajectories --realistic` (default 1,000
patients, 22 days each).

fit: one model on every patient (ICANS grade >= 1; the window classifier 5 days ahead, the
hazard and course models with a 7-day curve); predict: every patient-day of the same cohort
(the hazard model's risk by day 1-7; the course model's 64 simulated grade paths per day).
Prints a table and writes benchmarks/forecast_results.json.

Usage: python benchmarks/forecast.py [--patients 1000] [--repeats 3] [--only core hazard]

``--oracle``: the simulator's ceiling for "ICANS onset within 5 days, per patient-day AUROC"
instead: the Bayes-optimal forecast computed from the simulator's own generative rules for what
an oracle knows (``oracle_forecasts``), against the window classifier out of fold on the same
patient-days, with patient-bootstrap 95 % intervals; writes benchmarks/forecast_oracle_results.json.

Usage: python benchmarks/forecast.py --oracle [--patients 120] [--seeds 3 11]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cgtvigil.forecasting import CourseForecaster, DailyTable, HazardForecaster, ToxicityForecaster
from cgtvigil.synth import TrajectoryConfig, simulate_trajectories
from cgtvigil.synth._trajectories import ONSET_MEDIAN, PRODUCT_EFFECT, PRODUCTS

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=None, help="default 1,000 (--oracle: 120)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--only", nargs="+", default=None, help="the families whose name holds one of these")
    parser.add_argument("--oracle", action="store_true", help="the simulator's oracle ceiling instead")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 11], help="with --oracle: cohorts")
    parser.add_argument("--horizon", type=int, default=5, help="with --oracle: days ahead")
    args = parser.parse_args()
    if args.oracle:
        oracle_main(args.patients or 120, args.seeds, args.horizon)
        return
    args.patients = args.patients or 1000
    daily, _ = simulate_trajectories(TrajectoryConfig(patients=args.patients, seed=16, realistic=True))
    table = DailyTable.from_columns({k: daily.column(k).to_numpy(zero_copy_only=False) for k in daily.column_names})
    makers: dict[str, Callable[[], ToxicityForecaster | HazardForecaster | CourseForecaster]] = {
        "window (boosting)": lambda: ToxicityForecaster(target="icans", min_grade=1, horizon=5),
        "window (logistic)": lambda: ToxicityForecaster(target="icans", min_grade=1, horizon=5, model="logistic"),
        "window (known, logistic)": lambda: ToxicityForecaster(
            target="icans", min_grade=1, horizon=5, model="logistic", features="known"
        ),
        "window (core, logistic)": lambda: ToxicityForecaster(
            target="icans", min_grade=1, horizon=5, model="logistic", features="core"
        ),
        "hazard (logistic)": lambda: HazardForecaster(target="icans", min_grade=1, horizon=7),
        "course (multinomial)": lambda: CourseForecaster(target="icans", horizon=7),
    }
    if args.only:
        makers = {k: v for k, v in makers.items() if any(w in k for w in args.only)}
    rows = []
    for name, make in makers.items():
        fit_s, predict_s, fit_cpu, predict_cpu = [], [], [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            model = make().fit(table)
            fit_s.append(time.perf_counter() - t0)
            fit_cpu.append(time.process_time() - c0)
            t0, c0 = time.perf_counter(), time.process_time()
            model.predict_proba(table)
            predict_s.append(time.perf_counter() - t0)
            predict_cpu.append(time.process_time() - c0)
        rows.append(
            {
                "family": name,
                "fit_s": round(min(fit_s), 2),
                "predict_s": round(min(predict_s), 2),
                "fit_cpu_s": round(min(fit_cpu), 2),  # the process's CPU (all its threads)
                "predict_cpu_s": round(min(predict_cpu), 2),
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
    name = "forecast_results_partial.json" if args.only else "forecast_results.json"  # --only: not the full run
    (HERE / name).write_text(json.dumps(result, indent=2))
    print(f"{args.patients:,} patients, {len(table):,} patient-days (best of {args.repeats})")
    print(f"{'family':<26}{'fit (s)':>10}{'CPU':>8}{'predict (s)':>13}{'CPU':>8}{'µs/patient-day':>16}")
    for r in rows:
        print(
            f"{r['family']:<26}{r['fit_s']:>10.2f}{r['fit_cpu_s']:>8.2f}{r['predict_s']:>13.2f}"
            f"{r['predict_cpu_s']:>8.2f}{r['predict_us_per_patient_day']:>16.1f}"
        )


# --- the oracle ceiling (--oracle) -----------------------------------------------------------
# Bayes-optimal forecasts of "ICANS onset within h days" computed from the simulator's own
# generative rules (src/cgtvigil/synth/_trajectories.py, realistic=True). The simulator's
# patient-level draws are replayed in its order and checked against its patient table.


def _sigmoid(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def _latents(cfg: TrajectoryConfig) -> dict[str, Any]:
    """The simulator's patient-level draws (z, CRS course, ICANS occurrence and grade)."""
    rng = np.random.default_rng(cfg.seed)
    n = cfg.patients
    product = rng.choice(PRODUCTS, n)
    rng.normal(60, 12, n)  # age
    plt = np.clip(rng.lognormal(np.log(160), 0.45, n), 15, 600)
    z = rng.normal(0, 1, n) + np.array([PRODUCT_EFFECT[p] for p in product]) + 0.4 * (plt < 75)
    has_crs = rng.random(n) < _sigmoid(1.2 + 1.2 * z)
    rng.gamma(2.0, 1.0, n)  # the non-realistic CRS onset
    b = [(z + rng.normal(0, 0.7, n) > t) for t in (0.3, 1.4, 2.3)]
    crs_max = np.where(has_crs, np.clip(1 + b[0] + b[1] + b[2], 1, 4), 0)
    crs_len = np.clip(np.round(rng.gamma(3.0, 1.4, n)), 2, 12).astype(int)
    has_icans = rng.random(n) < _sigmoid(-1.6 + 1.3 * z + 0.9 * (crs_max >= 2))
    rng.gamma(2.0, 1.2, n)  # the non-realistic ICANS onset
    rng.integers(0, 5, n)
    b = [(z + rng.normal(0, 0.8, n) > t) for t in (0.6, 1.5, 2.4)]
    icans_max = np.where(has_icans, np.clip(1 + b[0] + b[1] + b[2], 1, 4), 0)
    rng.gamma(2.5, 1.6, n)  # ICANS length
    med = np.array([ONSET_MEDIAN[p] for p in product], dtype=float)
    crs_day = np.clip(np.round(med[:, 0] * rng.lognormal(0, 0.35, n)), 1, cfg.days)
    crs_onset = np.where(has_crs, crs_day, 99).astype(int)
    return {
        "product": product,
        "z": z,
        "shift": np.array([PRODUCT_EFFECT[p] for p in product]) + 0.4 * (plt < 75),
        "has_crs": has_crs,
        "crs_max": crs_max,
        "crs_len": crs_len,
        "crs_onset": crs_onset,
        "has_icans": has_icans,
        "icans_max": icans_max,
        "median_icans": med[:, 1],
    }


def _onset_prior(latent: dict[str, Any], days: int) -> Any:
    """P(ICANS onset on day k | ICANS), k = 0..days: round(median x LN(0, 0.35)), at least the
    day after CRS onset, clipped to 2..days."""
    from scipy.stats import norm

    j = np.arange(200)
    m = latent["median_icans"][:, None]
    lo = np.where(j > 0, norm.cdf(np.log(np.maximum(j - 0.5, 1e-12) / m) / 0.35), 0.0)
    pj = norm.cdf(np.log((j + 0.5) / m) / 0.35) - lo
    out = np.zeros((len(m), days + 1))
    for i in range(len(m)):
        v = np.maximum(j, latent["crs_onset"][i] + 1) if latent["has_crs"][i] else j
        np.add.at(out[i], np.clip(v, 2, days), pj[i])
    return out


def _bernoulli_sum(ps: list[Any]) -> Any:
    """P(1 + sum of independent Bernoulli(p) = 1..4), along a last axis."""
    dist = np.zeros((*np.shape(ps[0]), 4))
    dist[..., 0] = 1.0
    for p in ps:
        p = np.asarray(p)[..., None]
        new = dist * (1 - p)
        new[..., 1:] += dist[..., :-1] * p
        dist = new
    return dist


def _interval(x: float, mean: Any, sigma: float, half: float) -> Any:
    """log P(round(mean x LN(0, sigma)) == x), rounding half-width ``half``."""
    from scipy.stats import norm

    lo, hi = max(x - half, 1e-12), x + half
    return np.log(np.maximum(norm.cdf(np.log(hi / mean) / sigma) - norm.cdf(np.log(lo / mean) / sigma), 1e-300))


def oracle_forecasts(cfg: TrajectoryConfig, level: str, horizon: int = 5) -> tuple[DailyTable, Any]:
    """P(onset in (t, t + h] | what the oracle knows, the day is scored), per row.

    level ``latent``: z (the latent inflammatory propensity), product and the whole CRS course
    (including days ahead), not the labs; ``latent+labs``: also CRP, IL-6, ferritin,
    procalcitonin and temperature up to day t (their likelihood under each ICANS grade and onset
    day, the simulator's noise laws); ``crs+labs``: the labs and the whole CRS course, z
    integrated over its prior (a grid) instead of known: an upper bound on any model of the
    observed table (it knows the CRS course ahead). The ICANS draws (whether, grade, day) are
    never known. The scoring rule (a day is scored if the onset falls in the window or the
    patient is followed through t + h; early discharge only for patients without an event by
    day 10) enters the posterior as the probability of being scored.
    """
    from scipy.stats import norm

    daily, patients = simulate_trajectories(cfg)
    lat = _latents(cfg)
    check = {k: patients.column(k).to_numpy(zero_copy_only=False) for k in patients.column_names}
    if not (
        (np.where(lat["has_crs"], lat["crs_onset"], -1) == check["crs_onset_day"]).all()
        and (lat["icans_max"] == check["icans_max_grade"]).all()
    ):
        raise SystemExit("the oracle's replay of the simulator's draws no longer matches synth/_trajectories.py")
    table = DailyTable.from_columns({k: daily.column(k).to_numpy(zero_copy_only=False) for k in daily.column_names})
    days = cfg.days
    n_days = days + 1
    k_prior = _onset_prior(lat, days)
    grade = np.concatenate([[0], np.repeat(np.arange(1, 5), n_days)])  # hypotheses: none, (grade, day)
    onset = np.concatenate([[99], np.tile(np.arange(n_days), 4)])
    gh_x, gh_w = np.polynomial.hermite_e.hermegauss(24)
    gh_w = gh_w / gh_w.sum()
    row_of = {p: i for i, p in enumerate(check["patient_id"])}
    pred = np.full(len(table), np.nan)
    starts = np.flatnonzero(np.r_[True, table.patient_id[1:] != table.patient_id[:-1]])
    for s, e in zip(starts, np.r_[starts[1:], len(table)], strict=True):
        i = row_of[table.patient_id[s]]
        if level == "crs+labs":
            zs = lat["shift"][i] + np.linspace(-4.5, 4.5, 73)
            wz = norm.pdf(zs - lat["shift"][i])
        else:
            zs, wz = np.array([lat["z"][i]]), np.array([1.0])
        hc, cm, co, cl = lat["has_crs"][i], lat["crs_max"][i], lat["crs_onset"][i], lat["crs_len"][i]
        pc = _sigmoid(1.2 + 1.2 * zs)
        wz = wz * (pc if hc else 1 - pc)
        if hc:
            wz = wz * _bernoulli_sum([norm.cdf((zs - t) / 0.7) for t in (0.3, 1.4, 2.3)])[:, cm - 1]
        p_icans = _sigmoid(-1.6 + 1.3 * zs + 0.9 * (cm >= 2))
        g_dist = _bernoulli_sum([norm.cdf((zs - t) / 0.8) for t in (0.6, 1.5, 2.4)])
        joint = (g_dist[:, :, None] * k_prior[i][None, None, :]).reshape(len(zs), -1)
        prior = np.concatenate([(1 - p_icans)[:, None], p_icans[:, None] * joint], axis=1) * wz[:, None]
        loglik = np.zeros((n_days, len(zs), len(grade)))
        ratio = np.ones((n_days, len(grade)))  # the prodrome fever of days 1-2 (severe cases)
        if level != "latent":
            ez = np.exp(zs)[:, None]
            inflam = ez * (cm + 0.6 * grade[None, :] + 0.2)
            temps: dict[int, tuple[float, int]] = {}
            for r in range(s, e):
                d = int(table.day[r])
                v = {c: float(table.values[c][r]) for c in ("crp_mg_l", "il6_pg_ml", "ferritin_ng_ml", "pct_ng_ml")}
                rise = _sigmoid((d - (co - 1.2)) * 1.8) * np.exp(-max(d - co - cl, 0) / 3)
                neuro = np.where(onset < 99, _sigmoid((d - (onset - 1.5)) * 1.5), 0.0)[None, :]
                tot = np.zeros((len(zs), len(grade)))
                if np.isfinite(v["crp_mg_l"]):  # min(min(3 + a + 2 LN(0, .3), 500) x LN(0, .45), 500)
                    pre = np.minimum(
                        3 + (40 * inflam * rise + 15 * neuro * ez)[..., None] + 2 * np.exp(0.3 * gh_x), 500
                    )
                    x = v["crp_mg_l"]
                    if x >= 500:
                        p = 1 - norm.cdf(np.log(499.95 / pre) / 0.45)
                    else:
                        p = norm.cdf(np.log((x + 0.05) / pre) / 0.45) - norm.cdf(
                            np.log(max(x - 0.05, 1e-9) / pre) / 0.45
                        )
                    tot += np.log(np.maximum((p * gh_w).sum(-1), 1e-300))
                if np.isfinite(v["il6_pg_ml"]):
                    mean = 5 + 120 * inflam * rise * _sigmoid((co + 1 - d) * 1.2) + 80 * neuro * ez
                    tot += _interval(v["il6_pg_ml"], mean, float(np.hypot(0.35, 0.45)), 0.05)
                if np.isfinite(v["ferritin_ng_ml"]):
                    mean = 600 + 1500 * inflam * _sigmoid(d - co) + 1200 * neuro * ez
                    tot += _interval(v["ferritin_ng_ml"], mean, float(np.hypot(0.2, 0.45)), 0.5)
                if np.isfinite(v["pct_ng_ml"]):  # 0.05 + 0.1 inflam rise LN(0, .4), to 0.01
                    hi = v["pct_ng_ml"] + 0.005 - 0.05
                    sc = 0.1 * inflam * rise
                    lo = max(hi - 0.01, 1e-12)
                    p = norm.cdf(np.log(hi / sc) / 0.4) - norm.cdf(np.log(lo / sc) / 0.4) if hi > 0 else 0 * sc
                    tot += np.log(np.maximum(p, 1e-300))
                loglik[d] = tot
                if d in (1, 2) and np.isfinite(table.values["max_temp_c"][r]):
                    temps[d] = (float(table.values["max_temp_c"][r]), int(table.values["crs_grade"][r]))
            severe = (cm >= 3) | (grade >= 3)
            for d in range(n_days):
                f = []
                for day in (1, 2):
                    if day in temps and d >= day:
                        t, g = temps[day]
                        mu = 36.8 + (1.4 + 0.25 * g) * (0.7 if g >= 2 else 1.0) * (g > 0)
                        base = norm.pdf(t, mu, 0.25)
                        fever = base * np.clip((t - 38.6) / 1.4, 0, 1) + norm.cdf(t, mu, 0.25) * (38.6 <= t <= 40) / 1.4
                        f.append((base, fever))
                    else:
                        f.append((1.0, 1.0))
                none = f[0][0] * f[1][0]
                sev = 0.3 * none + 0.35 * f[0][1] * f[1][0] + 0.35 * f[0][0] * f[1][1]
                ratio[d] = np.where(severe, sev / max(none, 1e-300), 1.0)
        cum = np.cumsum(loglik, axis=0)
        first = np.minimum(co, onset)
        for r in range(s, e):
            d = int(table.day[r])
            lw = cum[d] + np.log(np.maximum(ratio[d], 1e-300))[None, :] + np.log(np.maximum(prior, 1e-300))
            lw = np.where((prior > 0) & (onset > d)[None, :], lw, -np.inf)
            w = np.exp(lw - lw.max())
            hit = (onset > d) & (onset <= d + horizon)
            discharged_ok = np.mean([d + horizon <= dd for dd in range(7, 11)])
            followed = np.where(first > 10, 0.4 * (d + horizon <= days) + 0.6 * discharged_ok, d + horizon <= days)
            w = w * np.where(hit, 1.0, followed)[None, :]
            total = w.sum()
            pred[r] = w[:, hit].sum() / total if total > 0 else np.nan
    return table, pred


def _bootstrap_auroc(pid: Any, y: Any, p: Any, other: Any = None, reps: int = 1000, seed: int = 0) -> Any:
    """95 % interval of the AUROC of ``p`` (patients resampled with replacement), or with
    ``other`` the interval of the paired difference AUROC(p) - AUROC(other)."""
    from sklearn.metrics import roc_auc_score

    ids, inv = np.unique(pid, return_inverse=True)
    rows = [np.flatnonzero(inv == k) for k in range(len(ids))]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(reps):
        pick = np.concatenate([rows[k] for k in rng.integers(0, len(ids), len(ids))])
        if len(np.unique(y[pick])) == 2:
            a = roc_auc_score(y[pick], p[pick])
            out.append(a if other is None else a - roc_auc_score(y[pick], other[pick]))
    lo, hi = np.quantile(out, [0.025, 0.975])
    return float(lo), float(hi)


def _window_out_of_fold(table: DailyTable, features: str, horizon: int) -> Any:
    """The window classifier (logistic) out of fold on the folds of the CI comparison
    (compare_families: grouped 5-fold above 60 patients)."""
    from sklearn.model_selection import GroupKFold

    from cgtvigil.forecasting._evaluate import _subset

    pred = np.full(len(table), np.nan)
    for train, test in GroupKFold(n_splits=5).split(table.day, groups=table.patient_id):
        model = ToxicityForecaster(target="icans", min_grade=1, horizon=horizon, model="logistic", features=features)  # type: ignore[arg-type]
        pred[test] = model.fit(_subset(table, train)).predict_proba(_subset(table, test))
    return pred


def oracle_main(patients: int, seeds: list[int], horizon: int) -> None:
    """The oracle's AUROC and the window classifier's (known and core features, the CI
    comparison's folds) on the same scored patient-days, with bootstrap intervals."""
    from sklearn.metrics import roc_auc_score

    from cgtvigil.forecasting._daily import onset_labels

    rows = []
    for seed in seeds:
        cfg = TrajectoryConfig(patients=patients, seed=seed, realistic=True)
        entry: dict[str, Any] = {"seed": seed, "patients": patients}
        scored = y = table = None
        for level in ("latent", "latent+labs", "crs+labs"):
            t0 = time.process_time()
            table, pred = oracle_forecasts(cfg, level, horizon)
            scored, y = onset_labels(table, "icans", 1, horizon)
            a = float(roc_auc_score(y[scored], pred[scored]))
            ci = _bootstrap_auroc(table.patient_id[scored], y[scored], pred[scored])
            entry[f"oracle {level}"] = {"auroc": round(a, 4), "ci95": [round(c, 4) for c in ci]}
            print(
                f"seed {seed} oracle {level}: AUROC {a:.4f} ({ci[0]:.3f}-{ci[1]:.3f}),",
                f"{time.process_time() - t0:.0f} s CPU",
            )
        assert table is not None and scored is not None and y is not None
        entry["patient_days"], entry["events"] = int(scored.sum()), int(y[scored].sum())
        if patients <= 400:
            window = {}
            for features in ("known", "core"):
                window[features] = p = _window_out_of_fold(table, features, horizon)[scored]
                a = float(roc_auc_score(y[scored], p))
                ci = _bootstrap_auroc(table.patient_id[scored], y[scored], p)
                entry[f"window {features}"] = {"auroc": round(a, 4), "ci95": [round(c, 4) for c in ci]}
                print(f"seed {seed} window ({features}): AUROC {a:.4f} ({ci[0]:.3f}-{ci[1]:.3f})")
            ci = _bootstrap_auroc(table.patient_id[scored], y[scored], window["core"], window["known"])
            entry["window core - known"] = {"ci95": [round(c, 4) for c in ci]}
            print(f"seed {seed} window core - known: 95 % interval {ci[0]:+.3f} to {ci[1]:+.3f}")
        rows.append(entry)
    out = {"horizon_days": horizon, "load_average_1min": round(os.getloadavg()[0], 2), "rows": rows}
    name = "forecast_oracle_results.json" if patients == 120 else f"forecast_oracle_results_{patients}.json"
    (HERE / name).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
