"""Data squashing for the MGPS prior fit (DuMouchel et al., KDD 2001; openEBGM ``squashData``).

Points that share a count N are sorted by expected count E and replaced, in consecutive
bins, by one point at the bin's mean E with the bin size as its weight. The points with the
largest E are kept as they are, as is every N with too few points to be worth squashing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cgtvigil._validation import Problems
from cgtvigil.signals._table import FloatArray, as_float_array

__all__ = ["SquashedPoints", "squash"]


@dataclass(frozen=True)
class SquashedPoints:
    n: FloatArray
    e: FloatArray
    weight: FloatArray


def squash(n: Any, e: Any, *, bin_size: int = 50, keep_pts: int = 100, min_pts: int = 500) -> SquashedPoints:
    """Squash (N, E) points within each N.

    Examples
    --------
    >>> s = squash([1] * 1000, np.linspace(0.1, 10, 1000), bin_size=50, keep_pts=100)
    >>> len(s.n), float(s.weight.sum())
    (118, 1000.0)
    """
    problems = Problems()
    nn = as_float_array(n, "n", "squash", problems)
    ee = as_float_array(e, "e", "squash", problems)
    for name, value in (("bin_size", bin_size), ("keep_pts", keep_pts), ("min_pts", min_pts)):
        if not isinstance(value, int) or value < (2 if name == "bin_size" else 0):
            problems.add(
                f"The '{name}' parameter of squash must be a non-negative integer (bin_size >= 2). Got {value!r}."
            )
    problems.raise_if_any()
    out_n: list[FloatArray] = []
    out_e: list[FloatArray] = []
    out_w: list[FloatArray] = []
    order = np.lexsort((ee, nn))
    nn, ee = nn[order], ee[order]
    starts = np.flatnonzero(np.r_[True, nn[1:] != nn[:-1]])
    ends = np.r_[starts[1:], len(nn)]
    for s, t in zip(starts, ends, strict=True):
        count = t - s
        if count < min_pts:
            out_n.append(nn[s:t])
            out_e.append(ee[s:t])
            out_w.append(np.ones(count))
            continue
        cut = t - keep_pts
        body = ee[s:cut]
        groups = np.arange(len(body)) // bin_size
        sizes = np.bincount(groups).astype(np.float64)
        means = np.bincount(groups, weights=body) / sizes
        out_n.append(np.full(len(sizes) + keep_pts, nn[s]))
        out_e.append(np.concatenate([means, ee[cut:t]]))
        out_w.append(np.concatenate([sizes, np.ones(keep_pts)]))
    if not out_n:
        empty = np.empty(0)
        return SquashedPoints(empty, empty, empty)
    return SquashedPoints(np.concatenate(out_n), np.concatenate(out_e), np.concatenate(out_w))
