"""Data squashing for the MGPS prior fit (DuMouchel et al., KDD 2001; openEBGM ``squashData``).

Points that share a count N are sorted by expected count E and replaced, in consecutive
bins of ``bin_size`` points, by one point at the bin's mean E with the bin's size as its
weight (the last bin may be partial). The ``keep_pts`` points with the largest E are kept as
they are, and so is every N with fewer than ``min_pts`` points. With ``count`` given, only that
N is squashed and every other point passes through with its weight, as openEBGM's
``squashData(data, count, bin_size, keep_pts)`` does, so that its vignette's two passes
(``count = 1``, then ``count = 2``) are two calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cgtvigil._validation import Problems
from cgtvigil.errors import ValidationError
from cgtvigil.signals._table import FloatArray, as_float_array

__all__ = ["SquashedPoints", "auto_squash", "squash"]


@dataclass(frozen=True)
class SquashedPoints:
    n: FloatArray
    e: FloatArray
    weight: FloatArray


def squash(
    n: Any,
    e: Any,
    weights: Any = None,
    *,
    count: int | None = None,
    bin_size: int = 50,
    keep_pts: int = 100,
    min_pts: int = 500,
) -> SquashedPoints:
    """Squash (N, E) points within each N (or only N = ``count``), ordered by N then E.

    Examples
    --------
    >>> s = squash([1] * 1000, np.linspace(0.1, 10, 1000), bin_size=50, keep_pts=100)
    >>> len(s.n), float(s.weight.sum())
    (118, 1000.0)
    >>> t = squash(np.r_[s.n, [2] * 60], np.r_[s.e, np.linspace(1, 6, 60)], np.r_[s.weight, np.ones(60)],
    ...            count=2, bin_size=10, keep_pts=50, min_pts=1)
    >>> len(t.n), float(t.weight.sum())
    (169, 1060.0)
    """
    problems = Problems()
    nn = as_float_array(n, "n", "squash", problems)
    ee = as_float_array(e, "e", "squash", problems)
    ww = np.ones_like(nn) if weights is None else as_float_array(weights, "weights", "squash", problems)
    for name, value in (("bin_size", bin_size), ("keep_pts", keep_pts), ("min_pts", min_pts)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (2 if name == "bin_size" else 0):
            problems.add(
                f"The '{name}' parameter of squash must be a non-negative integer (bin_size >= 2). Got {value!r}."
            )
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        problems.add(f"The 'count' parameter of squash must be a non-negative integer or None. Got {count!r}.")
    if len(nn) != len(ee) or len(nn) != len(ww):
        problems.add(f"n, e and weights must have the same length. Got {len(nn)}, {len(ee)}, {len(ww)}.")
    problems.raise_if_any()
    out_n: list[FloatArray] = []
    out_e: list[FloatArray] = []
    out_w: list[FloatArray] = []
    order = np.lexsort((ee, nn))
    nn, ee, ww = nn[order], ee[order], ww[order]
    starts = np.flatnonzero(np.r_[True, nn[1:] != nn[:-1]]) if len(nn) else np.empty(0, dtype=np.intp)
    ends = np.r_[starts[1:], len(nn)].astype(np.intp)
    for s, t in zip(starts, ends, strict=True):
        points = t - s
        cut = t - keep_pts
        if (count is not None and nn[s] != count) or points < min_pts or cut - s < bin_size:
            out_n.append(nn[s:t])
            out_e.append(ee[s:t])
            out_w.append(ww[s:t])
            continue
        if not (ww[s:cut] == 1.0).all():
            raise ValidationError([f"squash: the points with N = {nn[s]:g} to be squashed must have weight 1."])
        body = ee[s:cut]
        groups = np.arange(len(body)) // bin_size
        sizes = np.bincount(groups).astype(np.float64)
        means = np.bincount(groups, weights=body) / sizes
        out_n.append(np.full(len(sizes) + keep_pts, nn[s]))
        out_e.append(np.concatenate([means, ee[cut:t]]))
        out_w.append(np.concatenate([sizes, ww[cut:t]]))
    if not out_n:
        empty = np.empty(0)
        return SquashedPoints(empty, empty, empty)
    return SquashedPoints(np.concatenate(out_n), np.concatenate(out_e), np.concatenate(out_w))


# openEBGM autoSquash's defaults: points kept unsquashed for the 1st, 2nd, 3rd and later count
# (ascending N), and the number of super points by how many points a count has to squash.
AUTO_KEEP_PTS: tuple[int, ...] = (100, 75, 50, 25)
AUTO_CUT_OFFS: tuple[float, ...] = (500, 1e3, 1e4, 1e5, 5e5, 1e6, 5e6)
AUTO_SUPER_PTS: tuple[int, ...] = (50, 75, 150, 500, 750, 1000, 2000, 5000)


def auto_squash(n: Any, e: Any) -> SquashedPoints:
    """Squash every count N with more than ``max(AUTO_KEEP_PTS) + 1`` points to a number of super
    points that grows with how many it has, as openEBGM's ``autoSquash`` does with its defaults.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = auto_squash(np.repeat([1, 2, 3], [20000, 3000, 90]), rng.gamma(1.0, 1.0, 23090))
    >>> len(s.n), float(s.weight.sum())
    (930, 23090.0)
    """
    problems = Problems()
    nn = as_float_array(n, "n", "auto_squash", problems)
    ee = as_float_array(e, "e", "auto_squash", problems)
    problems.raise_if_any()
    # One sort by (N, E); each count is then squashed on its own run of points, which gives
    # the points (and their order) of squashing one count after the other.
    order = np.lexsort((ee, nn))
    nn, ee = nn[order], ee[order]
    starts = np.flatnonzero(np.r_[True, nn[1:] != nn[:-1]]) if len(nn) else np.empty(0, dtype=np.intp)
    ends = np.r_[starts[1:], len(nn)].astype(np.intp)
    parts: list[SquashedPoints] = []
    position = 0
    for s, t in zip(starts, ends, strict=True):
        size = int(t - s)
        if size <= max(AUTO_KEEP_PTS) + 1:
            parts.append(SquashedPoints(nn[s:t], ee[s:t], np.ones(size)))
            continue
        keep = AUTO_KEEP_PTS[min(position, len(AUTO_KEEP_PTS) - 1)]
        position += 1
        to_squash = size - keep
        super_pts = AUTO_SUPER_PTS[int(np.searchsorted(np.asarray(AUTO_CUT_OFFS), to_squash, side="right"))]
        bin_size = max(to_squash // super_pts, 2)
        parts.append(squash(nn[s:t], ee[s:t], count=int(nn[s]), bin_size=bin_size, keep_pts=keep, min_pts=1))
    if not parts:
        empty = np.empty(0)
        return SquashedPoints(empty, empty, empty)
    return SquashedPoints(*(np.concatenate([getattr(q, k) for q in parts]) for k in ("n", "e", "weight")))
