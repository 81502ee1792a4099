"""A seeded simulator of post-infusion CAR-T trajectories, documented as SYNTHETIC.

Per patient: age, product, pre-lymphodepletion labs, a latent inflammatory propensity that
drives CRS (onset typically day 1-6, grade 1-4) and ICANS (usually after CRS, more likely and
more severe after severe CRS); daily maximum temperature with antipyretic/tocilizumab effects;
CRP, ferritin, IL-6, procalcitonin and WBC that rise before and with the toxicities (the signal a
forecaster can learn); and an optional wearable temperature stream every 2 minutes.
The effect sizes are illustrative, not estimates from any cohort.

``realistic=True`` (``cgtvigil synth trajectories --realistic``) makes the data as hard as a
real cohort table (forecasting issue 16):

- onset days by product: the median days of CRS and of neurological toxicity onset in the US
  prescribing information of each product (``ONSET_MEDIAN``, approximately: Yescarta 2 and 4,
  Kymriah 3 and 6, Breyanzi 5 and 8, Tecartus 3 and 7, Abecma 1 and 3, Carvykti 7 and 8), each
  patient's day drawn around it (log-normal spread, sigma 0.35);
- early discharge: a patient without CRS or ICANS through day 7 goes home with probability 0.6
  on a day from 7 to 10 (their data end there: censored, not "unknown");
- irregular and missing labs: each lab is measured on a day with its own probability
  (``MEASURED``: temperature 0.95, WBC 0.8, CRP 0.6, ferritin 0.45, IL-6 0.3,
  procalcitonin 0.2), more often (x 1.5, at most 1) while a toxicity is active; the day-0 value
  (the baseline) is always drawn;
- severe cases (highest CRS or ICANS grade >= 3) are preceded, with probability 0.7, by a high
  fever (38.6-40 °C) on day 1 or 2, and their CRP, ferritin and IL-6 rise with extra
  multiplicative noise (log-normal, sigma 0.45) as every patient's do;
- sites with their own units: each patient belongs to site A, B or C (``SITE_UNITS``: C reports
  CRP in mg/dL and temperature in °F); ``write_trajectories`` writes ``daily.csv`` in the
  canonical units and one ``daily_site_<S>.csv`` per site in the site's units;
- what a cohort table also holds (drawn from a generator of their own, so that every value
  above is the same as without them): the patient's ``age`` and ``product`` on every row;
  platelets (``plt_1e9_l``), the pre-lymphodepletion value (the patient's
  ``baseline_plt_1e9_l``, which also raises the inflammatory propensity when < 75, the
  CAR-HEMATOTOX cut-off) on day 0, then the cytopenia after lymphodepletion (a fall to about
  40 % by day 7-10, illustrative), measured like WBC (0.8 of days); ``tocilizumab`` on days with
  CRS grade >= 2 and ``steroids`` on days with ICANS grade >= 2 or CRS grade >= 3 (the
  management the US prescribing information of the CD19 products recommends; a function of the
  grades, so they tell a model nothing the grades do not).
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


CD19 = ("Yescarta", "Kymriah", "Breyanzi", "Tecartus")
# product -> (median day of CRS onset, of neurological toxicity onset), US prescribing information
ONSET_MEDIAN = {
    "Yescarta": (2, 4),
    "Kymriah": (3, 6),
    "Breyanzi": (5, 8),
    "Tecartus": (3, 7),
    "Abecma": (1, 3),
    "Carvykti": (7, 8),
}
MEASURED = {
    "max_temp_c": 0.95,
    "wbc_1e9_l": 0.8,
    "crp_mg_l": 0.6,
    "ferritin_ng_ml": 0.45,
    "il6_pg_ml": 0.3,
    "pct_ng_ml": 0.2,
}
SITE_UNITS = {"A": {}, "B": {}, "C": {"crp_mg_l": "mg/dL", "max_temp_c": "[degF]"}}


@dataclass(frozen=True)
class TrajectoryConfig:
    patients: int = 200
    days: int = 21
    seed: int = 20261125
    realistic: bool = False
    missing_labs: bool = True  # with realistic: labs measured on some days only (False: every day)


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
    if cfg.realistic:
        med = np.array([ONSET_MEDIAN[p] for p in product], dtype=float)
        crs_day = np.clip(np.round(med[:, 0] * rng.lognormal(0, 0.35, n)), 1, cfg.days)
        crs_onset = np.where(has_crs, crs_day, 99).astype(int)
        icans_day = np.round(med[:, 1] * rng.lognormal(0, 0.35, n))
        icans_day = np.where(has_crs, np.maximum(icans_day, crs_onset + 1), icans_day)
        icans_onset = np.where(has_icans, np.clip(icans_day, 2, cfg.days), 99).astype(int)
        severe = (crs_max >= 3) | (icans_max >= 3)
        prodrome = np.where(severe & (rng.random(n) < 0.7), rng.integers(1, 3, n), -1)
        site = rng.choice(tuple(SITE_UNITS), n)

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
        if cfg.realistic:
            noise = rng.lognormal(0, 0.45, (3, days.size))
            crp, ferritin, il6 = np.minimum(crp * noise[0], 500.0), ferritin * noise[1], il6 * noise[2]
            if prodrome[i] >= 0:
                temp[prodrome[i]] = max(temp[prodrome[i]], rng.uniform(38.6, 40.0))
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
    columns = {k: np.concatenate(v) for k, v in rows.items()}
    extra: dict[str, np.ndarray] = {}
    if cfg.realistic:
        columns = _cohort_columns(columns, cfg, pid, product, age, plt)
        columns, extra = _realistic(columns, cfg, rng, pid, crs_onset, icans_onset)
        extra["site"] = site
        extra["product_class"] = np.array(["CD19 CAR-T" if p in CD19 else "BCMA CAR-T" for p in product])
    daily = pa.table({k: pa.array(v, from_pandas=True) for k, v in columns.items()})  # NaN: not measured
    patients = pa.table(
        {
            "patient_id": pid,
            **extra,
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


def _cohort_columns(
    columns: dict[str, np.ndarray],
    cfg: TrajectoryConfig,
    pid: np.ndarray,
    product: np.ndarray,
    age: np.ndarray,
    plt: np.ndarray,
) -> dict[str, np.ndarray]:
    """Age, product, platelets and the CRS/ICANS treatment on every row (module docstring)."""
    rng = np.random.default_rng([cfg.seed, 16])  # the other values keep their stream
    index = np.searchsorted(pid, columns["patient_id"])
    d = columns["day"].astype(float)
    fall = 0.4 + 0.6 * np.exp(-d / 3.0)
    platelets = plt[index] * np.where(d == 0, 1.0, fall * rng.lognormal(0, 0.15, len(d)))
    crs, icans = columns["crs_grade"], columns["icans_grade"]
    return {
        **columns,
        "plt_1e9_l": platelets.round(0),
        "tocilizumab": (crs >= 2).astype(float),
        "steroids": ((icans >= 2) | (crs >= 3)).astype(float),
        "age": age[index],
        "product": product[index],
    }


def _realistic(
    columns: dict[str, np.ndarray],
    cfg: TrajectoryConfig,
    rng: np.random.Generator,
    pid: np.ndarray,
    crs_onset: np.ndarray,
    icans_onset: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Early discharge of uneventful patients and labs measured on some days only (NaN)."""
    n = len(pid)
    first = np.minimum(crs_onset, icans_onset)
    discharge = np.where((first > 10) & (rng.random(n) < 0.6), rng.integers(7, 11, n), cfg.days)
    index = np.searchsorted(pid, columns["patient_id"])
    keep = columns["day"] <= discharge[index]
    active = (columns["crs_grade"] > 0) | (columns["icans_grade"] > 0)
    out = {k: v[keep] for k, v in columns.items()}
    active, day0 = active[keep], out["day"] == 0
    for k, p in MEASURED.items() if cfg.missing_labs else ():
        seen = (rng.random(len(active)) < np.minimum(p * np.where(active, 1.5, 1.0), 1.0)) | day0
        out[k] = np.where(seen, out[k], np.nan)
    if cfg.missing_labs and "plt_1e9_l" in out:  # measured like WBC, from the platelets' own stream
        own = np.random.default_rng([cfg.seed, 17])
        seen = (own.random(len(active)) < np.minimum(MEASURED["wbc_1e9_l"] * np.where(active, 1.5, 1.0), 1.0)) | day0
        out["plt_1e9_l"] = np.where(seen, out["plt_1e9_l"], np.nan)
    return out, {"discharge_day": discharge}


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
    if cfg is not None and cfg.realistic:
        paths += _site_files(out_dir, daily, patients)
    if wearables:
        paths.append(out_dir / "wearable_temperature.csv")
        pacsv.write_csv(wearable_temperature(daily), paths[2])
    return paths


def _site_files(out_dir: Path, daily: pa.Table, patients: pa.Table) -> list[Path]:
    """One daily table per site in the site's own units (SITE_UNITS)."""
    import pyarrow.compute as pc

    site_of = dict(zip(patients.column("patient_id").to_pylist(), patients.column("site").to_pylist(), strict=True))
    sites = pa.array([site_of[p] for p in daily.column("patient_id").to_pylist()])
    paths = []
    for site, units in SITE_UNITS.items():
        part = daily.filter(pc.equal(sites, site))
        for column, unit in units.items():
            v = part.column(column).to_numpy(zero_copy_only=False)
            converted = v / 10.0 if unit == "mg/dL" else v * 9.0 / 5.0 + 32.0
            values = pa.array(np.round(converted, 2), from_pandas=True)
            part = part.set_column(part.column_names.index(column), column, values)
        paths.append(out_dir / f"daily_site_{site}.csv")
        pacsv.write_csv(part, paths[-1])
    return paths
