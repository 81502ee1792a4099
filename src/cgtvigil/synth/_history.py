"""A seeded synthetic FAERS *history* at real scale, written one quarter at a time
(documented as synthetic everywhere).

``generate_faers`` keeps every case of a run in memory (its follow-ups may pick any earlier
case) and builds its rows report by report in Python, about 2,000 reports per CPU second: right
for the 1M-report benchmarks and the tests, far too slow and too big for all of FAERS. This
module reuses its world (``_World``: the drug and event vocabulary with Zipf popularity, each
drug's over-dispersed reporting profile, the planted signals, the CAR-T products and their
per-PT reporting rates calibrated on openFDA) and writes the same FDA layout, but:

- **streaming**: one quarter is generated, written to its zip (through a temporary name, then
  renamed) and freed before the next; what is carried from quarter to quarter is bounded: the
  cases first received in the last ``followup_horizon`` quarters (compact numpy arrays, the
  pool follow-ups are drawn from) and a few counters;
- **vectorised**: rows are drawn with numpy and joined into ``$``-delimited text with
  pyarrow compute, so the 22M reports of the full history take minutes per million, not hours;
- **the real timeline**: 2004Q1 to 2026Q2 (90 quarters), legacy AERS layout (``isr``/``case``,
  ``aers_ascii_YYYYqN.zip``, country names) up to 2012Q3 and FAERS from 2012Q4, reports per
  quarter growing from about 100,000 to about 450,000 (see ``HistoryConfig``), CAR-T products
  only from their first approval (2017Q4), ``Deleted/DELETEyyQq.txt`` from 2019Q1;
- **versions**: a share of each quarter's reports are follow-ups (next ``caseversion``, ``F``,
  the first version's ``init_fda_dt``, one more reaction) of cases first received in the last
  ``followup_horizon`` quarters; deletions name any case received before;
- **table sizes per report** as in the real FDA samples in ``/work/shared/data/faers``
  (legacy AERS 2004Q1 and FAERS 2017Q2, 100 reports each; see ``_ROWS_PER_REPORT``);
- **drug-name variants**: a share of drug rows spell the name with a strength or a form
  ("SYNTHDRUG 0042 20 MG", "SYNTHDRUG 0042 TABLETS 5 MG"), so the store has hundreds of
  thousands of distinct verbatim names to map, as real FAERS does.

Not generated (``generate_faers`` has them, for the learned ranking): the report profiles of
true and stimulated signals (reporter mix, completeness, time to onset, dechallenge).
"""

from __future__ import annotations

import itertools
import json
import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cgtvigil.model import FAERS_COLUMNS, ProductDictionary
from cgtvigil.synth._faers import _COUNTRIES, SYNTHETIC_NOTICE, SynthConfig, _World
from cgtvigil.synth._report_profiles import INDICATIONS

__all__ = [
    "HistoryConfig",
    "HistoryQuarter",
    "HistoryResult",
    "generate_history",
    "history_quarters",
    "iter_history",
]

# Rows per report in the real samples of /work/shared/data/faers (100 reports each):
# legacy AERS 2004Q1 (DEMO 100, DRUG 386, REAC 416, INDI 124, OUTC 93, RPSR 119, THER 145) and
# FAERS 2017Q2 (DEMO 100, DRUG 328, REAC 286, INDI 232, OUTC 75, RPSR 2, THER 142).
_ROWS_PER_REPORT: dict[str, dict[str, float]] = {
    "legacy": {"drug": 3.86, "reac": 4.16, "indi": 1.24, "outc": 0.93, "rpsr": 1.19, "ther": 1.45},
    "faers": {"drug": 3.28, "reac": 2.86, "indi": 2.32, "outc": 0.75, "rpsr": 0.02, "ther": 1.42},
}
# Sum of the six CAR-T products' openFDA report counts (data/cgt_calibration.json, 2026-02).
_CGT_REPORTS = 16_432

_LEGACY_COLUMNS: dict[str, tuple[str, ...]] = {
    "demo": (
        "isr", "case", "i_f_cod", "foll_seq", "image", "event_dt", "mfr_dt", "fda_dt", "rept_cod", "mfr_num",
        "mfr_sndr", "age", "age_cod", "gndr_cod", "e_sub", "wt", "wt_cod", "rept_dt", "occp_cod", "death_dt",
        "to_mfr", "confid", "reporter_country",
    ),
    "drug": (
        "isr", "drug_seq", "role_cod", "drugname", "val_vbm", "route", "dose_vbm", "dechal", "rechal", "lot_num",
        "exp_dt", "nda_num",
    ),
    "reac": ("isr", "pt"),
    "outc": ("isr", "outc_cod"),
    "rpsr": ("isr", "rpsr_cod"),
    "ther": ("isr", "drug_seq", "start_dt", "end_dt", "dur", "dur_cod"),
    "indi": ("isr", "drug_seq", "indi_pt"),
}  # fmt: skip
_FAERS_HEADER = {
    t: tuple(c for c in cols if c not in ("foll_seq", "image", "death_dt", "confid"))
    for t, cols in FAERS_COLUMNS.items()
}
_COUNTRY_NAMES = {
    "US": "UNITED STATES", "GB": "UNITED KINGDOM", "DE": "GERMANY", "FR": "FRANCE", "JP": "JAPAN", "IT": "ITALY",
    "ES": "SPAIN", "CA": "CANADA", "CN": "CHINA",
}  # fmt: skip
_ROLES = np.array(["PS", "SS", "C", "I"])
_OUTCOMES = np.array(["OT", "HO", "DE", "LT", "DS", "RI", "CA"])
_OUTCOME_W = np.array([0.40, 0.33, 0.12, 0.06, 0.05, 0.03, 0.01])
_SOURCES = np.array(["FGN", "HP", "CSM", "LIT", "SDY", "UF", "CR", "DT", "OTH"])
_SEX = np.array(["M", "F", "F", ""])
_OCCP = np.array(["MD", "HP", "CN", "PH", "OT", "LW"])
_OCCP_W = np.array([0.2, 0.12, 0.45, 0.1, 0.08, 0.05])
_REPT = np.array(["EXP", "PER", "DIR"])
_INDI = np.array([*INDICATIONS, "Product used for unknown indication"])
_AMOUNTS = (0.5, 1, 2, 2.5, 4, 5, 10, 12.5, 15, 20, 25, 30, 40, 50, 75, 80, 100, 125, 150, 200, 250, 300, 400, 500,
            600, 750, 800, 1000, 1200, 1500, 2000, 2500, 3000, 5000, 10000)  # fmt: skip


def history_quarters(first: str = "2004Q1", last: str = "2026Q2") -> tuple[str, ...]:
    """The quarters from ``first`` to ``last`` inclusive, as ``YYYYQn``."""
    y, q = int(first[:4]), int(first[-1])
    out = []
    while (y, q) <= (int(last[:4]), int(last[-1])):
        out.append(f"{y}Q{q}")
        y, q = (y + 1, 1) if q == 4 else (y, q + 1)
    return tuple(out)


@dataclass(frozen=True)
class HistoryConfig:
    """The shape of a synthetic FAERS history. Sizes are DEMO rows (reports, versions included).

    The real per-quarter counts are not in /work/shared (only 100-report samples), so the size
    of quarter i of the timeline (i = 0 .. n-1) is an assumption fitted to the issue's figures,
    about 100,000 reports a quarter in 2004, about 450,000 now and about 22 million in all:
    ``first_reports + (last_reports - first_reports) * (i / (n - 1)) ** growth``, times
    ``scale`` (90 quarters at scale 1: 21.96M). ``quarters`` keeps only the first N quarters of
    that timeline (a partial history of the same sizes)."""

    first_quarter: str = "2004Q1"
    last_quarter: str = "2026Q2"
    quarters: int | None = None
    scale: float = 1.0
    first_reports: int = 100_000
    last_reports: int = 450_000
    growth: float = 1.43
    seed: int = 20261202
    followup_share: float = 0.25  # of a quarter's reports: follow-up versions of earlier cases (assumption)
    followup_horizon: int = 8  # follow-ups are of cases first received in the last N quarters
    deleted_share: float = 0.002  # caseids listed as deleted per quarter, per report of the quarter
    deletions_from: str = "2019Q1"  # the first quarter with a Deleted/DELETEyyQq.txt
    legacy_until: str = "2012Q3"  # legacy AERS layout up to here, FAERS after
    cgt_from: str = "2017Q4"  # the first CAR-T approval (Kymriah, August 2017)
    cgt_reports: int = _CGT_REPORTS  # CAR-T reports over the whole history at scale 1
    n_drugs: int = 4000
    n_tail_events: int = 10_000
    n_planted: int = 40
    variant_share: float = 0.3  # drug rows spelt with a strength or a form
    compresslevel: int = 1

    def timeline(self) -> tuple[str, ...]:
        return history_quarters(self.first_quarter, self.last_quarter)

    def sizes(self) -> list[tuple[str, int]]:
        """(quarter, reports) for the quarters generated."""
        line = self.timeline()
        n = len(line)
        keep = line[: self.quarters] if self.quarters is not None else line
        out = []
        for i, quarter in enumerate(keep):
            x = i / (n - 1) if n > 1 else 0.0
            size = self.first_reports + (self.last_reports - self.first_reports) * x**self.growth
            out.append((quarter, max(1, round(size * self.scale))))
        return out

    def cgt_share(self) -> float:
        """The share of new cases with a CAR-T product in the quarters from ``cgt_from`` on, so
        that the full timeline has ``cgt_reports`` CAR-T cases (openFDA counts cases, the latest
        version of each), whatever the number of quarters generated."""
        full = replace(self, quarters=None).sizes()
        after = sum(n for q, n in full if _key(q) >= _key(self.cgt_from)) * (1 - self.followup_share)
        return self.cgt_reports * self.scale / after if after else 0.0


@dataclass(frozen=True)
class HistoryQuarter:
    """What one generated quarter holds."""

    quarter: str
    path: Path
    legacy: bool
    reports: int
    new_cases: int
    followups: int
    deleted: int
    rows: dict[str, int]
    cgt_reports: int


@dataclass
class HistoryResult:
    zips: list[Path]
    manifest: Path
    reports: int
    cases: int
    deleted: int
    quarters: list[HistoryQuarter] = field(default_factory=list)


def _key(quarter: str) -> tuple[int, int]:
    return int(quarter[:4]), int(quarter[-1])


def _strings(values: np.ndarray) -> pa.Array:
    return pa.array(values).cast(pa.string())


def _ragged_take(offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows ``idx`` of a CSR structure: the position of each of their values and the
    index (into ``idx``) of the row each belongs to."""
    starts = offsets[idx]
    lens = offsets[idx + 1] - starts
    owner = np.repeat(np.arange(len(idx)), lens)
    pos = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
    return pos.astype(np.int64), owner


def _offsets(owner: np.ndarray, n: int) -> np.ndarray:
    """CSR offsets of values sorted by owner (0 .. n-1)."""
    out = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(owner, minlength=n), out=out[1:])
    return out


@dataclass
class _Chunk:
    """The cases first received in one quarter (compact arrays; what follow-ups need)."""

    caseid: np.ndarray  # int64
    version: np.ndarray  # int16, the latest version written so far
    init_dt: np.ndarray  # int32 yyyymmdd
    event_dt: np.ndarray  # int32 yyyymmdd, 0 = none
    age: np.ndarray  # int16, -1 = none
    sex: np.ndarray  # int8 index into _SEX
    occp: np.ndarray  # int8
    country: np.ndarray  # int8
    rept: np.ndarray  # int8
    drug_off: np.ndarray
    drug_code: np.ndarray  # int32 index into the drug-name vocabulary
    drug_role: np.ndarray  # int8 index into _ROLES
    reac_off: np.ndarray
    reac_event: np.ndarray  # int32 index into world.events

    def nbytes(self) -> int:
        return sum(v.nbytes for v in self.__dict__.values())


def _dates(year: int, q: int, rng: np.random.Generator, n: int) -> np.ndarray:
    month = 3 * (q - 1) + 1 + rng.integers(0, 3, n)
    return (year * 10000 + month * 100 + rng.integers(1, 29, n)).astype(np.int32)


def _minus_days(dates: np.ndarray, days: np.ndarray) -> np.ndarray:
    d = dates.astype(np.int64)
    as_dt = (
        (d // 10000 - 1970).astype("datetime64[Y]").astype("datetime64[M]")
        + ((d // 100) % 100 - 1).astype("timedelta64[M]")
    ).astype("datetime64[D]") + ((d % 100) - 1).astype("timedelta64[D]")
    back = as_dt - days.astype("timedelta64[D]")
    text = np.datetime_as_string(back, unit="D")
    return np.char.replace(text, "-", "").astype(np.int32)


class _History:
    """The generator's state between quarters: the world, the counters and the follow-up pool."""

    def __init__(self, cfg: HistoryConfig, products: ProductDictionary) -> None:
        self.cfg = cfg
        self.sizes = cfg.sizes()
        timeline = cfg.timeline()
        synth = SynthConfig(
            quarters=timeline,
            seed=cfg.seed,
            n_drugs=cfg.n_drugs,
            n_tail_events=cfg.n_tail_events,
            n_planted=cfg.n_planted,
            n_decoys=0,
            n_negative_controls=0,
        )
        self.rng = np.random.default_rng(cfg.seed)
        self.world = _World(synth, products, self.rng)
        w = self.world
        events = {str(name): i for i, name in enumerate(w.events)}
        self.cgt_events = [
            (
                np.array([events[pt.capitalize() if pt.isupper() else pt] for pt in cal["pt_rate"]], np.int32),
                np.array(list(cal["pt_rate"].values()), float),
            )
            for _, cal in w.cgt
        ]
        self.planted_event = np.full(cfg.n_drugs, -1, np.int32)
        self.planted_p = np.zeros(cfg.n_drugs)
        for d, (e, p) in w.planted.items():
            self.planted_event[d], self.planted_p[d] = e, p
        # The drug-name vocabulary: drug d spelt plainly (code d * V) or with variant v
        # (code d * V + v), then the CAR-T labels (4 styles per product, as generate_faers).
        forms = (
            [f"{a:g} MG" for a in _AMOUNTS] + [f"{a:g} MCG" for a in _AMOUNTS] + [f"TABLETS {a:g} MG" for a in _AMOUNTS]
        )
        self.n_variants = 1 + len(forms)
        names = [str(d) for d in w.drugs]
        self.drug_names = [v for n in names for v in (n, *(f"{n} {f}" for f in forms))]
        self.drug_ai = [n for n in names for _ in range(self.n_variants)]
        self.cgt_base = len(self.drug_names)
        for product, _ in w.cgt:
            b, g = product.brand, product.generic
            self.drug_names += [b.upper(), b, f"{b.upper()} ({g.upper()})", g]
            self.drug_ai += [g.upper(), "", g.upper(), g.upper()]
        self.names = pa.array(self.drug_names, pa.string())
        self.ais = pa.array(self.drug_ai, pa.string())
        self.events = pa.array([str(e) for e in w.events], pa.string())
        self.next_case = 3_000_000
        self.first_case = self.next_case
        self.next_isr = 4_000_000
        self.pool: list[_Chunk] = []
        self.cgt_share = cfg.cgt_share()

    # -- one quarter ------------------------------------------------------------------------

    def quarter(self, qi: int, out_dir: Path) -> HistoryQuarter:
        cfg, rng, w = self.cfg, self.rng, self.world
        quarter, n_reports = self.sizes[qi]
        year, q = _key(quarter)
        legacy = _key(quarter) <= _key(cfg.legacy_until)
        era = _ROWS_PER_REPORT["legacy" if legacy else "faers"]
        pooled = sum(len(c.caseid) for c in self.pool)
        n_follow = min(round(n_reports * cfg.followup_share), pooled) if qi else 0
        n_new = n_reports - n_follow
        share = self.cgt_share if _key(quarter) >= _key(cfg.cgt_from) else 0.0

        # new cases: demographics, drugs (first drug drives the events), reactions
        fda_new = _dates(year, q, rng, n_new)
        has_event = rng.random(n_new) < 0.6
        event_dt = np.where(has_event, _minus_days(fda_new, rng.integers(0, 400, n_new)), 0).astype(np.int32)
        age = np.where(rng.random(n_new) < 0.75, rng.integers(1, 90, n_new), -1).astype(np.int16)
        is_cgt = rng.random(n_new) < share
        n_drug = 1 + rng.poisson(max(era["drug"] - 1 - share, 0.0), n_new)
        drug_owner = np.repeat(np.arange(n_new), n_drug)
        base = rng.choice(cfg.n_drugs, len(drug_owner), p=w.drug_w)
        variant = np.where(rng.random(len(base)) < cfg.variant_share, rng.integers(1, self.n_variants, len(base)), 0)
        code = (base * self.n_variants + variant).astype(np.int32)
        first_of = np.cumsum(n_drug) - n_drug
        role = rng.choice(np.array([1, 2, 2, 3], np.int8), len(base))
        role[first_of] = 0
        n_ev = 1 + rng.poisson(max(era["reac"] - 1, 0.0), n_new)
        ev_owner = np.repeat(np.arange(n_new), n_ev)
        driver = np.repeat(base[first_of], n_ev)
        n_events = len(w.events)
        ev = np.searchsorted(w.event_cdf, driver + rng.random(len(driver))) - driver * n_events
        ev = np.clip(ev, 0, n_events - 1)
        fired = (self.planted_event[base] >= 0) & (rng.random(len(base)) < self.planted_p[base])
        ev_owner = np.concatenate([ev_owner, drug_owner[fired]])
        ev = np.concatenate([ev, self.planted_event[base[fired]]])
        cgt_idx = np.flatnonzero(is_cgt)
        if len(cgt_idx):  # a CAR-T product first (primary suspect), and its calibrated PTs
            product = rng.choice(len(w.cgt), len(cgt_idx), p=w.cgt_weights)
            style = rng.integers(0, 4, len(cgt_idx))
            drug_owner = np.concatenate([cgt_idx, drug_owner])
            code = np.concatenate([(self.cgt_base + 4 * product + style).astype(np.int32), code])
            role[first_of[cgt_idx]] = 1  # the drug that was first becomes a secondary suspect
            role = np.concatenate([np.zeros(len(cgt_idx), np.int8), role])
            for p, (pts, rates) in enumerate(self.cgt_events):
                rows = cgt_idx[product == p]
                hit = rng.random((len(rows), len(pts))) < rates
                r, k = np.nonzero(hit)
                ev_owner = np.concatenate([ev_owner, rows[r]])
                ev = np.concatenate([ev, pts[k]])
            order = np.argsort(drug_owner, kind="stable")
            drug_owner, code, role = drug_owner[order], code[order], role[order]
        keyed = np.unique(ev_owner.astype(np.int64) * n_events + ev)  # one row per PT per report
        ev_owner, ev = (keyed // n_events), (keyed % n_events).astype(np.int32)
        chunk = _Chunk(
            caseid=np.arange(self.next_case, self.next_case + n_new, dtype=np.int64),
            version=np.ones(n_new, np.int16),  # legacy files carry no version; the count goes on
            init_dt=fda_new,
            event_dt=event_dt,
            age=age,
            sex=rng.integers(0, len(_SEX), n_new).astype(np.int8),
            occp=rng.choice(len(_OCCP), n_new, p=_OCCP_W).astype(np.int8),
            country=rng.integers(0, len(_COUNTRIES), n_new).astype(np.int8),
            rept=rng.integers(0, len(_REPT), n_new).astype(np.int8),
            drug_off=_offsets(drug_owner, n_new),
            drug_code=code,
            drug_role=role,
            reac_off=_offsets(ev_owner, n_new),
            reac_event=ev,
        )
        self.next_case += n_new

        # follow-ups: the next version of cases first received in the last quarters
        parts = [(chunk, np.arange(n_new), np.zeros(0, np.int32), fda_new)]
        if n_follow:
            pick = np.sort(rng.choice(pooled, n_follow, replace=False))
            bounds = np.cumsum([0] + [len(c.caseid) for c in self.pool])
            for c, (lo, hi) in zip(self.pool, itertools.pairwise(bounds), strict=True):
                local = pick[(pick >= lo) & (pick < hi)] - lo
                if len(local):
                    c.version[local] += 1
                    extra = rng.choice(n_events, len(local), p=w.event_w).astype(np.int32)
                    parts.append((c, local, extra, _dates(year, q, rng, len(local))))
        tables = self._tables(parts, legacy, era, year, q)
        self.pool = [*self.pool, chunk][-cfg.followup_horizon :]

        deleted = np.zeros(0, np.int64)
        if _key(quarter) >= _key(cfg.deletions_from) and qi:
            n_del = round(n_reports * cfg.deleted_share)
            deleted = np.unique(rng.integers(self.first_case, self.next_case - n_new, n_del))
        path = self._write(out_dir, quarter, legacy, tables, deleted)
        return HistoryQuarter(
            quarter=quarter,
            path=path,
            legacy=legacy,
            reports=n_reports,
            new_cases=n_new,
            followups=n_follow,
            deleted=len(deleted),
            rows={t: len(cols[0]) for t, cols in tables.items()},
            cgt_reports=len(cgt_idx),
        )

    def _tables(
        self,
        parts: list[tuple[_Chunk, np.ndarray, np.ndarray, np.ndarray]],
        legacy: bool,
        era: dict[str, float],
        year: int,
        q: int,
    ) -> dict[str, list[pa.Array | str]]:
        """The seven tables of the quarter's reports, as columns of strings in file order."""
        rng = self.rng
        cat = np.concatenate
        caseid = cat([c.caseid[i] for c, i, _, _ in parts])
        version = cat([c.version[i] for c, i, _, _ in parts])
        n = len(caseid)
        fda_dt = cat([d for _, _, _, d in parts])
        init_dt = cat([c.init_dt[i] for c, i, _, _ in parts])
        d_pos = [_ragged_take(c.drug_off, i) for c, i, _, _ in parts]
        r_pos = [_ragged_take(c.reac_off, i) for c, i, _, _ in parts]
        start = np.cumsum([0] + [len(i) for _, i, _, _ in parts])
        drug_owner = cat([o + s for (_, o), s in zip(d_pos, start, strict=False)])
        drug_code = cat([c.drug_code[p] for (c, _, _, _), (p, _) in zip(parts, d_pos, strict=True)])
        drug_role = cat([c.drug_role[p] for (c, _, _, _), (p, _) in zip(parts, d_pos, strict=True)])
        reac_owner = cat([o + s for (_, o), s in zip(r_pos, start, strict=False)])
        reac_event = cat([c.reac_event[p] for (c, _, _, _), (p, _) in zip(parts, r_pos, strict=True)])
        extra_owner = cat([np.arange(len(x)) + s for (_, _, x, _), s in zip(parts, start, strict=False)])
        reac_owner = cat([reac_owner, extra_owner])
        reac_event = cat([reac_event, cat([x for _, _, x, _ in parts])])
        keyed = np.unique(reac_owner.astype(np.int64) * len(self.events) + reac_event)
        reac_owner, reac_event = keyed // len(self.events), keyed % len(self.events)

        def field_of(name: str) -> np.ndarray:
            return cat([getattr(c, name)[i] for c, i, _, _ in parts])

        if legacy:
            rid = _strings(np.arange(self.next_isr, self.next_isr + n, dtype=np.int64))
            self.next_isr += n
        else:
            rid = pc.binary_join_element_wise(_strings(caseid), _strings(version), "")
        event_dt = field_of("event_dt")
        age = field_of("age")
        ev_txt = pc.if_else(pa.array(event_dt == 0), "", _strings(event_dt))
        age_txt = pc.if_else(pa.array(age < 0), "", _strings(age))
        age_cod = pc.if_else(pa.array(age < 0), "", "YR")
        fda_txt = _strings(fda_dt)
        sex = pa.array(_SEX[field_of("sex")])
        occp = pa.array(_OCCP[field_of("occp")])
        country = _COUNTRIES[field_of("country")]
        rept = pa.array(_REPT[field_of("rept")])
        i_f = pa.array(np.where(np.arange(n) < len(parts[0][1]), "I", "F"))
        sndr = pa.array(np.full(n, "SYNTHETIC"))
        tables: dict[str, list[pa.Array | str]] = {}
        if legacy:
            names = pa.array(np.vectorize(_COUNTRY_NAMES.get)(country))
            tables["demo"] = [rid, _strings(caseid), i_f, "", "", ev_txt, fda_txt, fda_txt, rept, "", sndr, age_txt,
                              age_cod, sex, "Y", "", "", fda_txt, occp, "", "", "", names]  # fmt: skip
        else:
            ctry = pa.array(country)
            by_col = {
                "primaryid": rid, "caseid": _strings(caseid), "caseversion": _strings(version), "i_f_code": i_f,
                "event_dt": ev_txt, "mfr_dt": fda_txt, "init_fda_dt": _strings(init_dt), "fda_dt": fda_txt,
                "rept_cod": rept, "mfr_sndr": sndr, "age": age_txt, "age_cod": age_cod, "sex": sex, "e_sub": "Y",
                "rept_dt": fda_txt, "occp_cod": occp, "reporter_country": ctry, "occr_country": ctry,
            }  # fmt: skip
            tables["demo"] = [by_col.get(c, "") for c in _FAERS_HEADER["demo"]]

        # drug rows and their sequence numbers within the report
        nd = len(drug_owner)
        seq = np.arange(nd) - _offsets(drug_owner, n)[drug_owner] + 1
        d_rid = rid.take(pa.array(drug_owner))
        d_case = _strings(caseid[drug_owner])
        d_seq = _strings(seq)
        d_name = self.names.take(pa.array(drug_code))
        d_role = pa.array(_ROLES[drug_role])
        is_cgt = drug_code >= self.cgt_base
        route = pa.array(np.where(is_cgt, "Intravenous", np.where(seq == 1, "Oral", "")))
        dose = rng.random(nd) < 0.5
        dose_amt = pc.if_else(pa.array(dose), _strings(10 * seq), "")
        dose_unit = pc.if_else(pa.array(dose), "MG", "")
        dechal = pa.array(np.array(["U", "Y", "N", "D"])[rng.choice(4, nd, p=[0.7, 0.1, 0.1, 0.1])])
        if legacy:
            tables["drug"] = [d_rid, d_seq, d_role, d_name, "2", route, "UNK", dechal, "U", "", "", ""]
        else:
            by_col = {
                "primaryid": d_rid, "caseid": d_case, "drug_seq": d_seq, "role_cod": d_role, "drugname": d_name,
                "prod_ai": self.ais.take(pa.array(drug_code)), "val_vbm": "1", "route": route, "dose_vbm": "UNK",
                "dechal": dechal, "rechal": "U", "dose_amt": dose_amt, "dose_unit": dose_unit,
            }  # fmt: skip
            tables["drug"] = [by_col.get(c, "") for c in _FAERS_HEADER["drug"]]

        # reactions
        pt = self.events.take(pa.array(reac_event))
        r_rid = rid.take(pa.array(reac_owner))
        tables["reac"] = [r_rid, pt] if legacy else [r_rid, _strings(caseid[reac_owner]), pt, ""]

        # indications and therapy dates: a share of drug rows, as many per report as in the samples
        p_indi = min(era["indi"] / era["drug"], 1.0)
        p_ther = min(era["ther"] / era["drug"], 1.0)
        ii = np.flatnonzero(rng.random(nd) < p_indi)
        indi_pt = pa.array(_INDI[rng.integers(0, len(_INDI), len(ii))])
        key = [d_rid.take(pa.array(ii))] if legacy else [d_rid.take(pa.array(ii)), d_case.take(pa.array(ii))]
        tables["indi"] = [*key, d_seq.take(pa.array(ii)), indi_pt]
        ti = np.flatnonzero(rng.random(nd) < p_ther)
        owner_dt = event_dt[drug_owner[ti]]
        start_dt = np.where(
            owner_dt > 0, _minus_days(np.where(owner_dt > 0, owner_dt, 20000101), rng.integers(0, 365, len(ti))), 0
        )
        st = pc.if_else(pa.array(start_dt == 0), "", _strings(start_dt))
        key = [d_rid.take(pa.array(ti))] if legacy else [d_rid.take(pa.array(ti)), d_case.take(pa.array(ti))]
        tables["ther"] = [*key, d_seq.take(pa.array(ti)), st, "", "", ""]

        # outcomes and report sources: 0-3 distinct codes per report
        for table, mean, codes, weights in (
            ("outc", era["outc"], _OUTCOMES, _OUTCOME_W),
            ("rpsr", era["rpsr"], _SOURCES, None),
        ):
            k = np.minimum(rng.poisson(mean, n), 3)
            owner = np.repeat(np.arange(n), k)
            rank = np.arange(len(owner)) - _offsets(owner, n)[owner]
            first_code = rng.choice(len(codes), n, p=weights)
            c = (first_code[owner] + rank * (1 + rng.integers(0, 2, len(owner)))) % len(codes)
            key = [rid.take(pa.array(owner))] if legacy else [rid.take(pa.array(owner)), _strings(caseid[owner])]
            tables[table] = [*key, pa.array(codes[c])]
        return tables

    def _write(
        self, out_dir: Path, quarter: str, legacy: bool, tables: dict[str, list[pa.Array | str]], deleted: np.ndarray
    ) -> Path:
        year, q = _key(quarter)
        yy = f"{year % 100:02d}Q{q}"
        path = out_dir / f"{'aers' if legacy else 'faers'}_ascii_{year}q{q}.zip"
        tmp = path.with_name(path.name + ".part")

        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=self.cfg.compresslevel) as zf:
            for table in FAERS_COLUMNS:
                header = _LEGACY_COLUMNS[table] if legacy else _FAERS_HEADER[table]
                cols = tables[table]
                if len(cols) != len(header):
                    raise AssertionError(f"{table}: {len(cols)} columns for a header of {len(header)}")
                name = f"ascii/{table.upper()}{yy}.{'TXT' if legacy else 'txt'}"
                with zf.open(name, "w", force_zip64=True) as fh:  # dated 1980-01-01 by zipfile
                    fh.write(("$".join(header) + "\n").encode())
                    fh.write(_lines(cols))
            # dated like the data members, so that the same seed gives the same bytes
            small = {"compress_type": zipfile.ZIP_DEFLATED, "compresslevel": self.cfg.compresslevel}
            zf.writestr(zipfile.ZipInfo("ascii/README_SYNTHETIC.txt"), SYNTHETIC_NOTICE + "\n", **small)
            if len(deleted):
                text = "\n".join(map(str, deleted.tolist())) + "\n"
                zf.writestr(zipfile.ZipInfo(f"Deleted/DELETE{yy}.txt"), text, **small)
        os.replace(tmp, path)
        return path


def _lines(cols: list[pa.Array | str]) -> bytes:
    """The ``$``-joined lines of equal-length columns (strings broadcast), each ending in a newline."""
    n = next(len(c) for c in cols if not isinstance(c, str))
    if n == 0:
        return b""
    joined = pc.binary_join_element_wise(*cols, "$")
    joined = pc.binary_join_element_wise(joined, "", "\n")
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    arr = joined.cast(pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], np.int64)[arr.offset : arr.offset + len(arr) + 1]
    return bytes(memoryview(arr.buffers()[2])[int(offsets[0]) : int(offsets[-1])])


def iter_history(
    out_dir: Path, products: ProductDictionary, cfg: HistoryConfig | None = None
) -> Iterator[HistoryQuarter]:
    """Write the history's quarters one at a time into ``out_dir``, yielding each as it is
    written; between quarters only the follow-up pool (the last ``followup_horizon`` quarters'
    cases as compact arrays) is kept."""
    cfg = cfg or HistoryConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = _History(cfg, products)
    for qi in range(len(state.sizes)):
        yield state.quarter(qi, out_dir)


def generate_history(
    out_dir: Path,
    products: ProductDictionary,
    cfg: HistoryConfig | None = None,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> HistoryResult:
    """Write every quarter of the history (:func:`iter_history`) and a manifest
    (``synthetic_manifest.json``: the config, and per quarter its reports, new cases,
    follow-ups, deleted caseids and rows per table)."""
    cfg = cfg or HistoryConfig()
    out_dir = Path(out_dir)
    done: list[HistoryQuarter] = []
    total = len(cfg.sizes())
    for hq in iter_history(out_dir, products, cfg):
        done.append(hq)
        if progress:
            progress(f"synthetic {hq.quarter} ({hq.reports:,} reports)", len(done), total)
    reports = sum(h.reports for h in done)
    cases = sum(h.new_cases for h in done)
    deleted = sum(h.deleted for h in done)
    manifest = out_dir / "synthetic_manifest.json"
    document: dict[str, Any] = {
        "notice": SYNTHETIC_NOTICE,
        "kind": "faers-history",
        "config": asdict(cfg),
        "reports": reports,
        "cases": cases,
        "deleted_listed": deleted,
        "quarters": [asdict(h) | {"path": h.path.name} for h in done],
    }
    manifest.write_text(json.dumps(document, indent=1), "utf-8")
    return HistoryResult([h.path for h in done], manifest, reports, cases, deleted, done)
