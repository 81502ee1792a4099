"""What a synthetic report looks like beyond its drugs and reactions: reporter, country,
completeness, seriousness, dates (time to onset) and dechallenge, for the learned ranking.

Three kinds of report (documented as synthetic; the shapes are choices, not estimates):

- **background**: consumers file about half of the reports (FAERS' share is of that order),
  the reporter country is mostly the US, a dose and an indication are given on about half,
  onsets are diffuse (log-normal, median 45 days, log-sd 1.3), a positive dechallenge is rare;
- **true** planted signal: each signal has a *strength* s ~ U(0, 1) that moves its reports from
  the background towards what a real adverse reaction looks like (more health professionals,
  more countries, more serious and fatal outcomes, more complete, a concentrated onset around a
  signal-specific median, positive dechallenges), and a start quarter (a third emerge later,
  so recent);
- **stimulated** reporting (the negative controls that fool disproportionality): a drug gets
  the same kind of excess reports of an event, but in a burst of one or two quarters, filed by
  consumers and lawyers in one country, sparse, non-serious and without dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["INDICATIONS", "Profiles", "SignalProfile"]

COUNTRIES = (
    "US", "GB", "DE", "FR", "JP", "IT", "ES", "CA", "CN", "AU", "NL", "BE", "SE", "CH", "AT",
    "BR", "IN", "KR", "PL", "DK", "NO", "FI", "IE", "PT", "IL",
)  # fmt: skip
_SERIOUS = ("HO", "LT", "OT", "DS", "RI", "CA")
INDICATIONS = ("Hypertension", "Diabetes mellitus", "Rheumatoid arthritis", "Depression", "Asthma", "Pain")
_BACKGROUND_OCCP = (("CN", 0.45), ("MD", 0.2), ("HP", 0.12), ("PH", 0.1), ("OT", 0.08), ("LW", 0.05))


@dataclass(frozen=True)
class SignalProfile:
    """A planted (drug, event) pair: excess reports with probability ``probability`` per report
    of the drug in quarters ``first_quarter``..``last_quarter`` (indices into the run's quarters)."""

    kind: str  # "true" or "stimulated"
    drug: int
    event: int
    probability: float
    first_quarter: int
    last_quarter: int
    strength: float  # 0 (looks like background) .. 1 (textbook adverse reaction); 0 for stimulated
    onset_median_days: float


class Profiles:
    """The planted true and stimulated pairs of a run and the attributes of each report."""

    def __init__(
        self,
        planted: dict[int, tuple[int, float]],
        low_rr: np.ndarray,
        n_quarters: int,
        n_decoys: int,
        n_negative_controls: int,
        rng: np.random.Generator,
    ) -> None:
        self.rng = rng
        self.true: dict[int, SignalProfile] = {}
        for d, (e, p) in sorted(planted.items()):
            first = int(rng.integers(1, n_quarters)) if n_quarters > 1 and rng.random() < 1 / 3 else 0
            self.true[d] = SignalProfile(
                "true", d, e, p, first, n_quarters - 1, float(rng.uniform()), float(rng.uniform(3, 120))
            )
        n_drugs, n_events = low_rr.shape
        used_drugs = set(planted)
        used_events = {e for e, _ in planted.values()}
        free_d = [d for d in range(20, min(400, n_drugs)) if d not in used_drugs]
        free_e = [e for e in range(30, min(800, n_events)) if e not in used_events]
        k = min(n_decoys, len(free_d), len(free_e))
        ds = rng.choice(free_d, k, replace=False)
        es = rng.choice(free_e, k, replace=False)
        self.stimulated: dict[int, SignalProfile] = {}
        for d, e in zip(ds.tolist(), es.tolist(), strict=True):
            first = int(rng.integers(0, n_quarters))
            last = min(n_quarters - 1, first + int(rng.integers(0, 2)))
            span = last - first + 1
            p = min(0.9, float(rng.uniform(0.05, 0.4)) * n_quarters / span / 2)
            self.stimulated[d] = SignalProfile("stimulated", d, e, p, first, last, 0.0, 0.0)
        # Background negative controls: common enough to be reported, with a low background rate.
        taken = used_drugs | set(self.stimulated)
        cand = np.argwhere(low_rr[20 : min(200, n_drugs), 30 : min(300, n_events)]) + np.array([20, 30])
        cand = cand[[int(d) not in taken for d in cand[:, 0]]] if len(cand) else cand
        pick: Any = rng.choice(len(cand), min(n_negative_controls, len(cand)), replace=False) if len(cand) else []
        self.negatives = [(int(cand[i][0]), int(cand[i][1])) for i in pick]

    def fired(self, drug: int, quarter: int, u_true: float, u_stim: float) -> tuple[str, SignalProfile] | None:
        """Which planted pair of ``drug`` adds its event to a report of quarter ``quarter``."""
        t = self.true.get(drug)
        if t is not None and u_true < t.probability and t.first_quarter <= quarter <= t.last_quarter:
            return "true", t
        s = self.stimulated.get(drug)
        if s is not None and u_stim < s.probability and s.first_quarter <= quarter <= s.last_quarter:
            return "stimulated", s
        return None

    def attributes(self, fired: list[tuple[str, SignalProfile]], demo: dict[str, str], year: int) -> dict[str, Any]:
        """Overrides of a new report's DEMO fields and its extra content (outcomes, dates, dose,
        indication, dechallenge of the drugs that fired)."""
        rng = self.rng
        kind, prof = fired[0] if fired else ("background", None)
        s = prof.strength if prof is not None else 0.0
        out: dict[str, Any] = {"demo": {}, "dechal": {}}
        codes, weights = zip(*_BACKGROUND_OCCP, strict=True)
        if kind == "stimulated":  # mostly, not always, what stimulated reports look like
            r = rng.random()
            out["demo"]["occp_cod"] = "LW" if r < 0.35 else "CN" if r < 0.8 else str(rng.choice(["MD", "HP"]))
            if rng.random() < 0.85:
                out["demo"]["reporter_country"] = out["demo"]["occr_country"] = "US"
            if rng.random() < 0.5:
                out["demo"]["age"] = out["demo"]["age_cod"] = ""
            if rng.random() < 0.4:
                out["demo"]["sex"] = ""
            if rng.random() < 0.6:
                out["demo"]["event_dt"] = ""
            out["outcomes"] = [str(rng.choice(_SERIOUS))] if rng.random() < 0.2 else []
            out.update(dose=bool(rng.random() < 0.2), indication=bool(rng.random() < 0.3))
            out["onset"] = float(rng.lognormal(np.log(45.0), 1.3)) if rng.random() < 0.3 else None
            return out
        hp = 0.55 + 0.4 * s if kind == "true" else 0.55
        out["demo"]["occp_cod"] = (
            str(rng.choice(["MD", "HP", "PH", "OT"])) if rng.random() < hp else ("CN" if rng.random() < 0.9 else "LW")
        ) if kind == "true" else str(rng.choice(codes, p=weights))  # fmt: skip
        if kind == "true" and rng.random() < s:
            out["demo"]["reporter_country"] = out["demo"]["occr_country"] = str(rng.choice(COUNTRIES))
            if not demo.get("age") and rng.random() < s:
                out["demo"]["age"], out["demo"]["age_cod"] = str(int(rng.integers(18, 85))), "YR"
            if not demo.get("event_dt") and rng.random() < s:
                month0 = int(demo["init_fda_dt"][4:6])
                out["demo"]["event_dt"] = f"{year}{month0:02d}{int(rng.integers(1, 28)):02d}"
        serious = rng.random() < (0.3 + 0.6 * s if kind == "true" else 0.3)
        fatal = serious and rng.random() < (0.1 + 0.3 * s if kind == "true" else 0.1)
        out["outcomes"] = (["DE"] if fatal else []) + ([str(rng.choice(_SERIOUS))] if serious else [])
        out["dose"] = bool(rng.random() < 0.4 + 0.5 * s)
        out["indication"] = bool(rng.random() < 0.5 + 0.4 * s)
        if prof is not None and rng.random() < 0.05 + 0.45 * s:
            out["dechal"][prof.drug] = "Y"
        if prof is not None and rng.random() < 0.1 * s:
            out["rechal"] = {prof.drug: "Y"}
        if kind == "true" and rng.random() < 0.5 + 0.45 * s:
            out["onset"] = float(rng.lognormal(np.log(prof.onset_median_days), 0.35)) if prof else None
        else:
            out["onset"] = float(rng.lognormal(np.log(45.0), 1.3)) if rng.random() < 0.7 else None
        return out

    def manifest(self, drug_name: Any, event_name: Any, quarters: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
        def row(p: SignalProfile) -> dict[str, Any]:
            return {
                "drug": drug_name(p.drug), "event": event_name(p.event), "kind": p.kind,
                "added_probability": p.probability, "first_quarter": quarters[p.first_quarter],
                "last_quarter": quarters[p.last_quarter], "strength": p.strength,
                "onset_median_days": p.onset_median_days or None,
            }  # fmt: skip

        negatives = [row(p) for p in self.stimulated.values()] + [
            {"drug": drug_name(d), "event": event_name(e), "kind": "background"} for d, e in self.negatives
        ]
        return {"true_signals": [row(p) for p in self.true.values()], "negative_controls": negatives}
