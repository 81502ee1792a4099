"""Named signal-of-disproportionate-reporting (SDR) rules, versioned (domain.md §8.5).

Each rule names its source and whether its exact form was confirmed; an unconfirmed rule is
reported as ``verified: false`` in every output that uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["THRESHOLD_RULES", "ThresholdRule", "apply_threshold_rules"]

RULES_VERSION = "cgtvigil-sdr-rules-1"

Columns = Mapping[str, npt.NDArray[np.float64]]
Flags = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class ThresholdRule:
    """One named SDR rule."""

    name: str
    version: str
    description: str
    source: str
    verified: bool
    needs: tuple[str, ...]
    test: Callable[[Columns, Flags], Flags]

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "source": self.source,
            "verified": self.verified,
        }


def _ema(c: Columns, amon: Flags) -> Flags:
    return (c["ror_lower"] > 1.0) & (c["n"] >= np.where(amon, 3.0, 5.0))


def _evans(c: Columns, amon: Flags) -> Flags:
    return (c["prr"] >= 2.0) & (c["chi2"] >= 4.0) & (c["n"] >= 3.0)


def _fda(c: Columns, amon: Flags) -> Flags:
    return c["eb05"] >= 2.0


def _who(c: Columns, amon: Flags) -> Flags:
    return c["ic025"] > 0.0


def _mhra(c: Columns, amon: Flags) -> Flags:
    return (c["eb05"] >= 1.8) & (c["n"] >= 3.0) & (c["ebgm"] >= 2.5)


THRESHOLD_RULES: dict[str, ThresholdRule] = {
    r.name: r
    for r in (
        ThresholdRule(
            "ema_ror",
            "EMA-SDR-2016",
            "ROR lower 95% bound > 1 and n >= 3 (additional monitoring) else n >= 5",
            "EMA/849944/2016 §4.1.3; the exact n rule is UNCONFIRMED (domain.md §8.5)",
            False,
            ("ror_lower", "n"),
            _ema,
        ),
        ThresholdRule(
            "evans_prr",
            "Evans-2001",
            "PRR >= 2, chi-square >= 4 and n >= 3",
            "Evans et al., PDS 2001; PMC4982893",
            True,
            ("prr", "chi2", "n"),
            _evans,
        ),
        ThresholdRule(
            "fda_eb05",
            "FDA-MGPS",
            "EB05 >= 2 (FDA convention; this project's default)",
            "PMC7460123; 'FDA uses >= 2' as agency policy is UNCONFIRMED",
            False,
            ("eb05",),
            _fda,
        ),
        ThresholdRule(
            "who_ic025",
            "WHO-UMC-IC025",
            "IC025 > 0",
            "Sci Rep table; Norén et al. 2006",
            True,
            ("ic025",),
            _who,
        ),
        ThresholdRule(
            "mhra",
            "MHRA-EBGM",
            "EB05 >= 1.8, n >= 3 and EBGM >= 2.5",
            "PMC4982893",
            True,
            ("eb05", "n", "ebgm"),
            _mhra,
        ),
    )
}


def apply_threshold_rules(columns: Columns, additional_monitoring: Flags) -> dict[str, Flags]:
    """Evaluate every rule whose inputs are present; returns ``sdr_<rule>`` flag columns."""
    out: dict[str, Flags] = {}
    for rule in THRESHOLD_RULES.values():
        if all(k in columns for k in rule.needs):
            with np.errstate(invalid="ignore"):
                out[f"sdr_{rule.name}"] = rule.test(columns, additional_monitoring)
    return out
