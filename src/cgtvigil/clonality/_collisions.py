"""Collisions of integration sites between independent samples (patients), resolved in the way
ISAnalytics' ``remove_collisions()`` documents: an IS (chromosome, position, strand) seen in more
than one independent sample is assigned to one of them by, in turn,

1. the sequencing date: the one sample sequenced first, when exactly one is (skipped when the
   data carry no dates);
2. the replicate count: the one sample with the most replicates (rows) holding the IS;
3. the reads ratio: the sample with the most reads, when it has more than ``reads_ratio`` times
   the reads of the next one (ISAnalytics' default 10);

and removed from every sample when none of them decides. (A re-implementation from the
documented rule; the shared reference numbers were made without collision removal, so the
numbers tested are this rule's worked examples and its counts on the real Clarke 2018 data.)"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from cgtvigil._validation import Problems

__all__ = ["CollisionDecision", "CollisionItem", "CollisionResult", "resolve_collisions"]

Rule = Literal["date", "replicates", "reads_ratio", "removed"]


@dataclass(frozen=True)
class CollisionItem:
    """One row of an IS in one replicate of an independent sample (``subject``)."""

    site: Hashable
    subject: str
    reads: float
    sequenced_on: date | None = None


@dataclass(frozen=True)
class CollisionDecision:
    site: Hashable
    subjects: tuple[str, ...]
    rule: Rule
    kept: str | None  # the subject the IS is assigned to (None: removed)


@dataclass(frozen=True)
class CollisionResult:
    decisions: list[CollisionDecision] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out = {"collisions": len(self.decisions), "date": 0, "replicates": 0, "reads_ratio": 0, "removed": 0}
        for d in self.decisions:
            out[d.rule] += 1
        return out

    def keeps(self, site: Hashable, subject: str) -> bool:
        """Whether the row of ``subject`` at ``site`` stays (every row of a site without a collision does)."""
        d = self._by_site.get(site)
        return d is None or d.kept == subject

    @property
    def _by_site(self) -> dict[Hashable, CollisionDecision]:
        cached = self.__dict__.get("_index")
        if cached is None:
            cached = {d.site: d for d in self.decisions}
            object.__setattr__(self, "_index", cached)
        return cached


def _unique_best(values: dict[str, float], *, lowest: bool = False) -> str | None:
    best = min(values.values()) if lowest else max(values.values())
    winners = [s for s, v in values.items() if v == best]
    return winners[0] if len(winners) == 1 else None


def resolve_collisions(items: Sequence[CollisionItem], *, reads_ratio: float = 10.0) -> CollisionResult:
    """Decide every collision of ``items`` (see the module).

    Examples
    --------
    >>> rows = [CollisionItem("is1", "P1", 865), CollisionItem("is1", "P2", 65),
    ...         CollisionItem("is2", "P1", 10), CollisionItem("is2", "P1", 12), CollisionItem("is2", "P3", 900),
    ...         CollisionItem("is3", "P1", 100), CollisionItem("is3", "P2", 50)]
    >>> [(d.site, d.rule, d.kept) for d in resolve_collisions(rows).decisions]
    [('is1', 'reads_ratio', 'P1'), ('is2', 'replicates', 'P1'), ('is3', 'removed', None)]
    """
    problems = Problems()
    if not reads_ratio > 0:
        problems.add(f"The 'reads_ratio' parameter of resolve_collisions must be a number > 0. Got {reads_ratio!r}.")
    problems.raise_if_any()
    by_site: dict[Hashable, list[CollisionItem]] = defaultdict(list)
    for item in items:
        by_site[item.site].append(item)
    decisions = []
    for site, rows in by_site.items():
        subjects = sorted({r.subject for r in rows})
        if len(subjects) < 2:
            continue
        kept: str | None = None
        rule: Rule = "removed"
        first: dict[str, float] = {}
        for r in rows:
            if r.sequenced_on is not None:
                day = float(r.sequenced_on.toordinal())
                first[r.subject] = min(first.get(r.subject, day), day)
        if len(first) == len(subjects) and (kept := _unique_best(first, lowest=True)) is not None:
            rule = "date"
        if kept is None:
            replicates: dict[str, float] = defaultdict(float)
            for r in rows:
                replicates[r.subject] += 1
            if (kept := _unique_best(replicates)) is not None:
                rule = "replicates"
        if kept is None:
            reads: dict[str, float] = defaultdict(float)
            for r in rows:
                reads[r.subject] += r.reads
            ranked = sorted(reads.items(), key=lambda kv: -kv[1])
            top, second = ranked[0][1], ranked[1][1]
            if top > 0 and (second == 0 or top / second > reads_ratio):
                kept, rule = ranked[0][0], "reads_ratio"
        decisions.append(CollisionDecision(site, tuple(subjects), rule, kept))
    return CollisionResult(decisions)
