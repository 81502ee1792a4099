"""Per-sample clonal diversity of integration sites: the numbers ISAnalytics' ``sample_statistics``
reports (IS count, sum, Shannon, Gini–Simpson and inverse Simpson from ``vegan::diversity``),
with Pielou evenness, the Gini coefficient, Chao1 (``vegan::estimateR``), UC50 and the top clone.

Each IS is one clone; its abundance is a read count, a fragment estimate or inferred cells.
Abundances of zero are not clones of the sample and are left out (as vegan does)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from cgtvigil._validation import param_message
from cgtvigil.errors import ValidationError

__all__ = ["CloneDiversity", "clone_diversity"]


@dataclass(frozen=True)
class CloneDiversity:
    """Diversity of one sample's clones.

    - ``n_is``: S, the number of IS with abundance > 0 (ISAnalytics ``nIS``).
    - ``total``: the sum of abundances.
    - ``shannon``: H = -sum p ln p (``vegan::diversity(x, "shannon")``).
    - ``simpson``: Gini–Simpson 1 - sum p^2 (``vegan::diversity(x, "simpson")``).
    - ``inverse_simpson``: 1 / sum p^2 (``vegan::diversity(x, "invsimpson")``).
    - ``pielou``: evenness H / ln S (NaN when S = 1).
    - ``gini``: Gini coefficient without small-sample correction (``ineq::Gini(x, corr = FALSE)``).
    - ``chao1``: bias-corrected Chao1 richness S + F1(F1-1) / (2(F2+1)) as ``vegan::estimateR``
      2.6 computes it by default (F1, F2: clones seen once and twice; no (N-1)/N small-sample
      factor); None when the abundances are not whole numbers (fragment estimates), for which it
      is undefined (vegan rounds them with a warning).
    - ``uc50``: the fewest clones, most abundant first, that hold at least half of the total.
    - ``top_fraction``: max p; ``top_index`` the position (in the input) of the first IS with the
      largest abundance; ``top_tied`` how many share it.
    """

    n_is: int
    total: float
    shannon: float
    simpson: float
    inverse_simpson: float
    pielou: float
    gini: float
    chao1: float | None
    uc50: int
    top_fraction: float
    top_index: int
    top_tied: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def clone_diversity(abundance: ArrayLike) -> CloneDiversity:
    """Diversity of one sample from the abundance of each IS.

    Examples
    --------
    >>> d = clone_diversity([5, 3, 1, 1])
    >>> d.n_is, round(d.simpson, 4), d.uc50, d.top_fraction
    (4, 0.64, 1, 0.5)
    >>> d.chao1  # 4 + 2*1 / (2*(0+1))
    5.0
    """
    x = np.asarray(abundance, dtype=float)
    if x.ndim != 1 or not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ValidationError(
            [param_message("abundance", "clone_diversity", "a 1-d array of finite values >= 0", "other values")]
        )
    positive = np.flatnonzero(x > 0)
    if positive.size == 0:
        raise ValidationError(
            [param_message("abundance", "clone_diversity", "an array with at least one value > 0", x.tolist()[:5])]
        )
    v = x[positive]
    s = int(v.size)
    total = float(v.sum())
    p = v / total
    shannon = float(-np.sum(p * np.log(p)))
    sum_sq = float(np.sum(p * p))
    ordered = np.sort(v)
    ranks = np.arange(1, s + 1, dtype=float)
    gini = 0.0 if s == 1 else float(np.sum((2 * ranks - s - 1) * ordered) / (s * total))
    top = float(v.max())
    chao1: float | None = None
    if np.all(v == np.round(v)):
        f1 = float(np.sum(v == 1))
        f2 = float(np.sum(v == 2))
        chao1 = s + f1 * (f1 - 1) / (2 * (f2 + 1))
    cumulative = np.cumsum(ordered[::-1])
    uc50 = int(np.searchsorted(cumulative, total / 2, side="left")) + 1
    return CloneDiversity(
        n_is=s,
        total=total,
        shannon=shannon,
        simpson=1.0 - sum_sq,
        inverse_simpson=1.0 / sum_sq,
        pielou=shannon / math.log(s) if s > 1 else math.nan,
        gini=gini,
        chao1=chao1,
        uc50=uc50,
        top_fraction=top / total,
        top_index=int(positive[int(np.argmax(v))]),
        top_tied=int(np.sum(v == top)),
    )
