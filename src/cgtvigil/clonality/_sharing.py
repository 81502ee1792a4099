"""Sharing of IS between groups (cell types, time points, tissues), as ISAnalytics'
``is_sharing`` reports it pairwise: the shared count and its share of each group and of the union,
and the cumulative union of IS over time points (``cumulative_is``)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence, Set
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

__all__ = ["Sharing", "cumulative_is", "is_sharing"]


@dataclass(frozen=True)
class Sharing:
    """IS shared by groups ``g1`` and ``g2``; ``on_*`` are percentages (ISAnalytics' columns)."""

    g1: str
    g2: str
    count_g1: int
    count_g2: int
    shared: int
    count_union: int
    on_g1: float
    on_g2: float
    on_union: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_sharing(groups: Mapping[str, Set[Hashable]]) -> list[Sharing]:
    """Every pair of groups (in the order given) with the IS they share.

    Examples
    --------
    >>> [s.to_dict() for s in is_sharing({"T": {1, 2, 3}, "PBMC": {2, 3, 4, 5}})]  # doctest: +NORMALIZE_WHITESPACE
    [{'g1': 'T', 'g2': 'PBMC', 'count_g1': 3, 'count_g2': 4, 'shared': 2, 'count_union': 5,
      'on_g1': 66.66666666666667, 'on_g2': 50.0, 'on_union': 40.0}]
    """
    out = []
    for a, b in combinations(groups, 2):
        x, y = groups[a], groups[b]
        shared = len(x & y)
        union = len(x | y)
        out.append(
            Sharing(
                g1=a,
                g2=b,
                count_g1=len(x),
                count_g2=len(y),
                shared=shared,
                count_union=union,
                on_g1=100 * shared / len(x) if x else 0.0,
                on_g2=100 * shared / len(y) if y else 0.0,
                on_union=100 * shared / union if union else 0.0,
            )
        )
    return out


def cumulative_is(by_time: Sequence[tuple[float, Set[Hashable]]]) -> list[tuple[float, int]]:
    """The number of distinct IS seen up to each time point (time points in increasing order).

    Examples
    --------
    >>> cumulative_is([(6, {1, 2}), (12, {2, 3}), (24, {1})])
    [(6, 2), (12, 3), (24, 3)]
    """
    seen: set[Hashable] = set()
    out = []
    for t, sites in sorted(by_time, key=lambda p: p[0]):
        seen |= sites
        out.append((t, len(seen)))
    return out
