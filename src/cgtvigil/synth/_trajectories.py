"""A seeded simulator of post-infusion CAR-T trajectories, documented as SYNTHETIC.

Per patient: age, product, pre-lymphodepletion labs, a latent inflammatory propensity that
drives CRS (onset typically day 1-6, grade 1-4) and ICANS (usually after CRS, more likely and
more severe after severe CRS); daily maximum temperature with antipyretic/tocilizumab effects;
CRP, ferritin, IL-6, procalcitonin and WBC that rise before and with the toxicities (the signal a
forecaster can learn); and an optional wearable temperature stream every 2 minutes.
The effect sizes are illustrative, not estimates from any cohort.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

__all__ = ["TrajectoryConfig", "simulate_trajectories", "wearable_temperature", "write_trajectories"]

PRODUCTS = ("Yescarta", "Kymriah", "Breyanzi", "Tecartus", "Abecma", "Carvykti")
PRODUCT_EFFECT = {"Yescarta": 0.5, "Tecartus": 0.5, "Kymriah": 0.0, "Breyanzi": -0.4, "Abecma": -0.1, "Carvykti": 0.1}


@dataclass(frozen=True)
class TrajectoryConfig:
    patients: int = 200
    days: int = 21
    seed: int = 20261125


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))
    return out


def simulate_trajectories(cfg: TrajectoryConfig | None = None) -> tuple[pa.Table, pa.Table]:
    """Return (daily table, patient table). Daily columns: patient_id, day, max_temp_c,
    crp_mg_l, ferritin_ng_ml, il6_pg_ml, pct_ng_ml, wbc_1e9_l, crs_grade, icans_grade."""
    cfg = cfg or TrajectoryConfig()
    rng = np.random.default_rng(cfg.seed)
    n, days = cfg.patients, np.arange(cfg.days + 1)
    pid = np.array([f"SYN-{i:04d}" for i in range(n)])
    product = rng.choice(PRODUCTS, n)
    age = np.clip(rng.normal(60, 12, n), 19, 85).round()
    plt = np.clip(rng.lognormal(np.log(160), 0.45, n), 15, 600)
    z = rng.normal(0, 1, n) + np.array([PRODUCT_EFFECT[p] for p in product]) + 0.4 * (plt < 75)
    has_crs = rng.random(n) < _sigmoid(1.2 + 1.2 * z)
    crs_onset = np.where(has_crs, np.clip(np.round(1 + rng.gamma(2.0, 1.0, n)), 1, 9), 99).astype(int)
    crs_max = np.where(
        has_crs,
        np.clip(
            1
            + (z + rng.normal(0, 0.7, n) > 0.3)
            + (z + rng.normal(0, 0.7, n) > 1.4)
            + (z + rng.normal(0, 0.7, n) > 2.3),
            1,
            4,
        ),
        0,
    ).astype(int)
    crs_len = np.clip(np.round(rng.gamma(3.0, 1.4, n)), 2, 12).astype(int)
    p_icans = _sigmoid(-1.6 + 1.3 * z + 0.9 * (crs_max >= 2))
    has_icans = rng.random(n) < p_icans
    base_onset = np.where(
        has_crs, crs_onset + np.clip(np.round(rng.gamma(2.0, 1.2, n)), 1, 8), 4 + rng.integers(0, 5, n)
    )
    icans_onset = np.where(has_icans, np.clip(base_onset, 2, cfg.days), 99).astype(int)
    icans_max = np.where(
        has_icans,
        np.clip(
            1
            + (z + rng.normal(0, 0.8, n) > 0.6)
            + (z + rng.normal(0, 0.8, n) > 1.5)
            + (z + rng.normal(0, 0.8, n) > 2.4),
            1,
            4,
        ),
        0,
    ).astype(int)
    icans_len = np.clip(np.round(rng.gamma(2.5, 1.6, n)), 1, 10).astype(int)

    rows: dict[str, list[np.ndarray]] = {
        k: []
        for k in (
            "patient_id",
            "day",
            "max_temp_c",
            "crp_mg_l",
            "ferritin_ng_ml",
            "il6_pg_ml",
            "pct_ng_ml",
            "wbc_1e9_l",
            "crs_grade",
            "icans_grade",
        )
    }
    for i in range(n):
        d = days.astype(float)
        crs_g = np.where(
            (days >= crs_onset[i]) & (days < crs_onset[i] + crs_len[i]),
            np.minimum(crs_max[i], 1 + (days - crs_onset[i])),
            0,
        )
        icans_g = np.where(
            (days >= icans_onset[i]) & (days < icans_onset[i] + icans_len[i]),
            np.minimum(icans_max[i], 1 + (days - icans_onset[i]) // 1),
            0,
        )
        inflam = np.exp(z[i]) * (crs_max[i] + 0.6 * icans_max[i] + 0.2)
        # CRP and IL-6 rise about a day before CRS onset; ferritin lags; all fall afterwards.
        rise = _sigmoid((d - (crs_onset[i] - 1.2)) * 1.8) * np.exp(-np.maximum(d - crs_onset[i] - crs_len[i], 0) / 3)
        neuro = _sigmoid((d - (icans_onset[i] - 1.5)) * 1.5) * np.exp(
            -np.maximum(d - icans_onset[i] - icans_len[i], 0) / 3
        )
        crp = 3 + 40 * inflam * rise + 15 * neuro * np.exp(z[i]) + rng.lognormal(0, 0.3, days.size) * 2
        crp = np.minimum(crp, 500.0)  # mg/L, about the highest reported in severe CRS (was up to 22,000)
        il6 = 5 + 120 * inflam * rise * _sigmoid((crs_onset[i] + 1 - d) * 1.2) + 80 * neuro * np.exp(z[i])
        il6 = il6 * rng.lognormal(0, 0.35, days.size)
        ferritin = (
            600 + 1500 * inflam * _sigmoid((d - crs_onset[i]) * 1.0) + 1200 * neuro * np.exp(z[i])
        ) * rng.lognormal(0, 0.2, days.size)
        pct = 0.05 + 0.1 * inflam * rise * rng.lognormal(0, 0.4, days.size)
        wbc = np.clip(
            4.5 * np.exp(-d / 2.0) + 0.2 + 0.25 * np.maximum(d - 8, 0) * rng.lognormal(0, 0.3, days.size), 0.05, None
        )
        fever = crs_g > 0
        temp = 36.8 + rng.normal(0, 0.25, days.size) + fever * (1.4 + 0.25 * crs_g) * np.where(crs_g >= 2, 0.7, 1.0)
        for k, v in (
            ("patient_id", np.full(days.size, pid[i])),
            ("day", days),
            ("max_temp_c", temp.round(1)),
            ("crp_mg_l", crp.round(1)),
            ("ferritin_ng_ml", ferritin.round(0)),
            ("il6_pg_ml", il6.round(1)),
            ("pct_ng_ml", pct.round(2)),
            ("wbc_1e9_l", wbc.round(2)),
            ("crs_grade", crs_g),
            ("icans_grade", icans_g),
        ):
            rows[k].append(v)
    daily = pa.table({k: pa.array(np.concatenate(v)) for k, v in rows.items()})
    patients = pa.table(
        {
            "patient_id": pid,
            "product": product,
            "age": age,
            "baseline_plt_1e9_l": plt.round(0),
            "crs_onset_day": np.where(has_crs, crs_onset, -1),
            "crs_max_grade": crs_max,
            "icans_onset_day": np.where(has_icans, icans_onset, -1),
            "icans_max_grade": icans_max,
        }
    )
    return daily, patients


def wearable_temperature(daily: pa.Table, *, seed: int = 1, every_minutes: int = 2) -> pa.Table:
    """A SYNTHETIC skin-temperature stream every ``every_minutes`` minutes per patient-day:
    a circadian baseline plus the day's fever (peaking at the daily maximum) and sensor noise."""
    rng = np.random.default_rng(seed)
    per_day = 24 * 60 // every_minutes
    minutes = np.arange(per_day) * every_minutes
    circadian = 0.25 * np.sin((minutes / 1440.0 - 0.3) * 2 * np.pi)
    ids = daily.column("patient_id").to_numpy(zero_copy_only=False)
    day = daily.column("day").to_numpy()
    tmax = daily.column("max_temp_c").to_numpy()
    excess = np.maximum(tmax - 37.0, 0.0)[:, None] * np.exp(-(((minutes[None, :] - 960) / 300.0) ** 2))
    temp = 36.6 + circadian[None, :] + excess + rng.normal(0, 0.08, (len(day), per_day))
    return pa.table(
        {
            "patient_id": np.repeat(ids, per_day),
            "minute": (np.repeat(day, per_day) * 1440 + np.tile(minutes, len(day))).astype(np.int64),
            "temperature_c": temp.ravel().round(2),
        }
    )


def write_trajectories(out_dir: Path, cfg: TrajectoryConfig | None = None, *, wearables: bool = False) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    daily, patients = simulate_trajectories(cfg)
    paths = [out_dir / "daily.csv", out_dir / "patients.csv"]
    pacsv.write_csv(daily, paths[0])
    pacsv.write_csv(patients, paths[1])
    if wearables:
        paths.append(out_dir / "wearable_temperature.csv")
        pacsv.write_csv(wearable_temperature(daily), paths[2])
    return paths
