"""Clonal expansion over time: a clone that holds at least a dominance threshold of its sample,
or whose share grows at each of several consecutive time points. The thresholds are cgtvigil's
project defaults (a 10 % clone is the level that LVV HSC gene-therapy follow-up reports as
dominance; 20 % a high one), configurable; not validated clinical guidance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any, Literal

from cgtvigil._validation import Problems, check_interval, param_message

__all__ = ["Expansion", "ExpansionRule", "find_expansions"]


@dataclass(frozen=True)
class ExpansionRule:
    """When a clone counts as expanded.

    - ``dominance``: a share of the sample at or above this is dominant (severity ``warning``).
    - ``high_dominance``: at or above this, severity ``high``.
    - ``growth_points``: a share that rises at each of this many consecutive time points
      (absent = 0) ...
    - ``growth_min_fraction``: ... ending at or above this share, is growing.
    """

    dominance: float = 0.10
    high_dominance: float = 0.20
    growth_points: int = 3
    growth_min_fraction: float = 0.05
    version: str = "cgtvigil-clonal-expansion-0.1"
    verified: bool = False

    def __post_init__(self) -> None:
        problems = Problems()
        check_interval(self.dominance, "dominance", "ExpansionRule", 0, 1, problems)
        check_interval(self.high_dominance, "high_dominance", "ExpansionRule", 0, 1.000001, problems)
        check_interval(self.growth_min_fraction, "growth_min_fraction", "ExpansionRule", 0, 1, problems)
        if self.high_dominance < self.dominance:
            problems.add(
                param_message(
                    "high_dominance", "ExpansionRule", f"at least dominance ({self.dominance})", self.high_dominance
                )
            )
        if not isinstance(self.growth_points, int) or self.growth_points < 2:
            problems.add(param_message("growth_points", "ExpansionRule", "an integer >= 2", self.growth_points))
        problems.raise_if_any()


@dataclass(frozen=True)
class Expansion:
    """A clone expanded at ``time``: ``kind`` which criterion, ``fraction`` its share then,
    ``history`` its shares at the time points up to then (for the growth criterion)."""

    clone: str
    time: float
    kind: Literal["dominant", "growing"]
    severity: Literal["warning", "high"]
    fraction: float
    history: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_expansions(
    times: Sequence[float], clones: Sequence[str], fractions: Sequence[float], rule: ExpansionRule | None = None
) -> list[Expansion]:
    """Expansions in one series of samples (one patient and cell type): each row is a clone's
    share of its sample at a time point. A clone absent from a sampled time point had share 0.
    Ordered by time, then clone.

    Examples
    --------
    >>> e = find_expansions([1, 1, 2, 2, 3], ["a", "b", "a", "b", "a"], [0.02, 0.3, 0.05, 0.1, 0.12])
    >>> [(x.clone, x.time, x.kind, x.severity) for x in e]  # doctest: +NORMALIZE_WHITESPACE
    [('b', 1, 'dominant', 'high'), ('b', 2, 'dominant', 'warning'),
     ('a', 3, 'dominant', 'warning'), ('a', 3, 'growing', 'warning')]
    """
    rule = rule or ExpansionRule()
    points = sorted(set(times))
    share: dict[str, dict[float, float]] = {}
    for t, c, f in zip(times, clones, fractions, strict=True):
        share.setdefault(c, {})[t] = share.get(c, {}).get(t, 0.0) + f
    out: list[Expansion] = []
    k = rule.growth_points
    for clone, by_time in share.items():
        history = [by_time.get(t, 0.0) for t in points]
        for j, t in enumerate(points):
            f = history[j]
            severity: Literal["warning", "high"] = "high" if f >= rule.high_dominance else "warning"
            if f >= rule.dominance:
                out.append(Expansion(clone, t, "dominant", severity, f, tuple(history[: j + 1])))
            window = history[j - k + 1 : j + 1] if j >= k - 1 else []
            if window and f >= rule.growth_min_fraction and all(a < b for a, b in pairwise(window)):
                out.append(Expansion(clone, t, "growing", severity, f, tuple(history[: j + 1])))
    return sorted(out, key=lambda e: (e.time, e.clone, e.kind))
