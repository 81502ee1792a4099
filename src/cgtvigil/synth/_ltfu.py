"""A seeded simulator of a multi-site, multi-country long-term follow-up cohort, documented as
SYNTHETIC: enrolment over the years before ``today``, paediatric and adult patients with full
or partial birth dates, equity attributes (sex, race, ethnicity, distance to the treating
centre), each patient's visit attendance, moves between sites and countries, the transition at
majority (re-consent, often late), consent withdrawals, deaths, late malignancies and clonal
expansions. The effect sizes are illustrative, not estimates from any cohort:

- attendance falls with distance (-0.25 on the logit per 100 km), in the two years around the
  age of majority (-0.8), after a move (-0.5) and at site ``US-3`` (-0.4, a site with a
  retention problem);
- a patient is lost to follow-up (stops attending) with a yearly hazard of 3 % (x 2.5 in the
  transition years, x 1.5 beyond 150 km, x exp(-0.9) per unit of attendance logit above the
  typical 2.0: poor attenders break off more often);
- 2 % of patients withdraw from safety follow-up and 4 % from data sharing; 1.5 % die per year;
- late malignancies: integrating products 0.4 % per patient-year, others 0.1 %; clonal expansions
  (top clone above 10 %) in 3 % of integrating-vector HSC patients.

``LtfuCohort.clonal_expansions`` carries the clonal expansions for the genotoxicity area
(``genotox``), which loads them into its own tables; follow-up does not store them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from cgtvigil.model import ProductDictionary

__all__ = ["LTFU_SITES", "ClonalExpansion", "LtfuCohort", "LtfuCohortConfig", "LtfuPatient", "simulate_ltfu"]

# site -> (country, jurisdiction, IANA zone, care)
LTFU_SITES: dict[str, tuple[str, str, str, str]] = {
    "US-1": ("US", "US-CA", "America/Los_Angeles", "paediatric"),
    "US-2": ("US", "US-AL", "America/Chicago", "both"),
    "US-3": ("US", "US-NY", "America/New_York", "adult"),
    "GB-1": ("GB", "GB", "Europe/London", "both"),
    "DE-1": ("DE", "DE", "Europe/Berlin", "paediatric"),
    "IT-1": ("IT", "IT", "Europe/Rome", "adult"),
}
ADULT_SITE = {"US-1": "US-3", "US-2": "US-2", "DE-1": "IT-1", "GB-1": "GB-1", "US-3": "US-3", "IT-1": "IT-1"}
LTFU_PRODUCTS = ("skysona", "zynteglo", "lyfgenia", "casgevy", "lenmeldy", "kymriah", "zolgensma", "hemgenix")
RACES = ("White", "Black or African American", "Asian", "Other", None)
ETHNICITIES = ("Hispanic or Latino", "Not Hispanic or Latino", None)


@dataclass(frozen=True)
class LtfuCohortConfig:
    patients: int = 200
    seed: int = 12
    enrol_years: int = 12  # infusions spread over this many years before ``today``
    today: date = date(2026, 12, 1)


@dataclass(frozen=True)
class ClonalExpansion:
    """A clonal expansion for the genotoxicity area (SYNTHETIC): the top clone's share."""

    patient_id: str
    on: date
    top_clone_fraction: float
    nearest_gene: str


@dataclass(frozen=True)
class LtfuPatient:
    id: str
    site: str
    product: str
    infusion_date: date
    birth_date: date
    birth_precision: str
    sex: str
    race: str | None
    ethnicity: str | None
    distance_km: float | None
    attend_logit: float  # the patient's baseline attendance (logit)
    lost_on: date | None  # stops attending from this day
    died_on: date | None
    death_cause: str
    withdrawals: tuple[tuple[date, str], ...]  # (day, consent use)
    moves: tuple[tuple[date, str], ...]  # (day, receiving site)
    reconsent_delay_days: int | None  # days after majority the patient re-consents (None: never)
    malignancy: tuple[date, str] | None
    seed: int  # each patient's own stream (visit days)


@dataclass(frozen=True)
class LtfuCohort:
    config: LtfuCohortConfig
    patients: tuple[LtfuPatient, ...]
    clonal_expansions: tuple[ClonalExpansion, ...] = field(default=())
    notice: str = "SYNTHETIC long-term follow-up cohort (cgtvigil.synth.simulate_ltfu); not real patients."


def simulate_ltfu(config: LtfuCohortConfig, products: ProductDictionary) -> LtfuCohort:
    """The cohort of ``config`` (same seed, same cohort).

    Examples
    --------
    >>> from cgtvigil.store import load_products
    >>> cohort = simulate_ltfu(LtfuCohortConfig(patients=20, seed=1), load_products())
    >>> len(cohort.patients), cohort.patients[0].id
    (20, 'SYN-LTFU-0000')
    """
    rng = np.random.default_rng(config.seed)
    by_id = products.by_id()
    out: list[LtfuPatient] = []
    expansions: list[ClonalExpansion] = []
    sites = list(LTFU_SITES)
    for k in range(config.patients):
        product = LTFU_PRODUCTS[int(rng.integers(len(LTFU_PRODUCTS)))]
        p = by_id[product]
        day0 = config.today - timedelta(days=int(rng.integers(30, 365 * config.enrol_years)))
        child = p.paediatric and rng.random() < 0.7
        age0 = float(rng.uniform(1, 17)) if child else float(rng.uniform(18, 70))
        birth = day0 - timedelta(days=int(age0 * 365.25))
        precision = "day" if rng.random() < 0.85 else ("month" if rng.random() < 0.6 else "year")
        if precision == "month":
            birth = birth.replace(day=1)
        elif precision == "year":
            birth = date(birth.year, 1, 1)
        site = sites[int(rng.integers(len(sites)))]
        distance = float(np.round(rng.lognormal(3.8, 0.9), 1)) if rng.random() < 0.85 else None
        site_effect = -0.4 if site == "US-3" else 0.0
        attend = 2.0 + site_effect - 0.25 * (distance or 50) / 100 + float(rng.normal(0, 0.5))
        majority = birth + timedelta(days=int(18 * 365.25))
        years = 15 if (p.integrating or p.genome_editing) else 5
        end = min(config.today, day0 + timedelta(days=365 * years))
        lost_on = died_on = None
        death_cause = ""
        d = day0
        while d < end and lost_on is None and died_on is None:
            transition = abs((d - majority).days) < 730
            hazard = 0.03 * (2.5 if transition else 1.0) * (1.5 if (distance or 0) > 150 else 1.0)
            hazard *= float(np.exp(-0.9 * (attend - 2.0)))  # poor attenders break off more often
            if rng.random() < hazard:
                lost_on = d + timedelta(days=int(rng.integers(0, 365)))
            elif rng.random() < 0.015:
                died_on = d + timedelta(days=int(rng.integers(0, 365)))
                death_cause = ("disease progression", "infection", "secondary malignancy", "other")[
                    int(rng.integers(4))
                ]
            d += timedelta(days=365)
        lost_on = lost_on if lost_on is not None and lost_on < config.today else None
        died_on = died_on if died_on is not None and died_on < config.today else None
        withdrawals: list[tuple[date, str]] = []
        for use, prob in (("safety_followup", 0.02), ("data_sharing", 0.04)):
            if rng.random() < prob:
                withdrawals.append((day0 + timedelta(days=int(rng.integers(200, max(201, (end - day0).days)))), use))
        moves: list[tuple[date, str]] = []
        if child and day0 < majority < config.today:
            receiving = ADULT_SITE[site]
            if receiving != site:
                moves.append((majority + timedelta(days=int(rng.integers(0, 400))), receiving))
        elif rng.random() < 0.05:
            other = [s for s in sites if s != site]
            moves.append((day0 + timedelta(days=int(rng.integers(365, 365 * 5))), other[int(rng.integers(len(other)))]))
        moves = [m for m in moves if m[0] < config.today]
        reconsent = int(rng.integers(0, 300)) if rng.random() < 0.8 else None
        rate = 0.004 if p.integrating else 0.001
        malignancy = None
        span = max(1, (end - day0).days)
        if rng.random() < rate * span / 365.25:
            when = day0 + timedelta(days=int(rng.integers(180, max(181, span))))
            if when < config.today:
                kind = "myelodysplastic syndrome" if p.modality == "LVV-ex-vivo-HSC" else "T-cell lymphoma"
                malignancy = (when, kind)
        pid = f"SYN-LTFU-{k:04d}"
        if p.modality == "LVV-ex-vivo-HSC" and rng.random() < 0.03:
            expansions.append(
                ClonalExpansion(
                    pid,
                    day0 + timedelta(days=int(rng.integers(365, 365 * 4))),
                    float(np.round(rng.uniform(0.1, 0.35), 3)),
                    ("MECOM", "LMO2", "CCND2")[int(rng.integers(3))],
                )
            )
        out.append(
            LtfuPatient(
                id=pid,
                site=site,
                product=product,
                infusion_date=day0,
                birth_date=birth,
                birth_precision=precision,
                sex="F" if rng.random() < 0.5 else "M",
                race=RACES[int(rng.integers(len(RACES)))],
                ethnicity=ETHNICITIES[int(rng.integers(len(ETHNICITIES)))],
                distance_km=distance,
                attend_logit=attend,
                lost_on=lost_on,
                died_on=died_on,
                death_cause=death_cause,
                withdrawals=tuple(sorted(withdrawals)),
                moves=tuple(moves),
                reconsent_delay_days=reconsent,
                malignancy=malignancy,
                seed=int(rng.integers(2**31)),
            )
        )
    return LtfuCohort(config=config, patients=tuple(out), clonal_expansions=tuple(expansions))
