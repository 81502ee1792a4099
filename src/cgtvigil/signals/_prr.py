"""Proportional reporting ratio (Evans et al., Pharmacoepidemiol Drug Saf 2001)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.special import ndtri

from cgtvigil._validation import Problems, check_interval
from cgtvigil.signals._table import ContingencyTables, FloatArray, result_to_arrow

__all__ = ["PRRResult", "prr"]


@dataclass(frozen=True)
class PRRResult:
    """PRR with its confidence interval and chi-square, one value per table."""

    prr: FloatArray
    lower: FloatArray
    upper: FloatArray
    chi2: FloatArray
    corrected: np.ndarray[Any, np.dtype[np.bool_]]
    alpha: float
    yates: bool

    def to_arrow(self) -> pa.Table:
        return result_to_arrow(
            {
                "prr": self.prr,
                "prr_lower": self.lower,
                "prr_upper": self.upper,
                "chi2": self.chi2,
                "prr_corrected": self.corrected,
            }
        )


def chi_square(t: ContingencyTables, *, yates: bool = False) -> FloatArray:
    """Pearson chi-square of each 2x2 table (1 df), with Yates' correction on request."""
    n = t.n_total
    diff = np.abs(t.a * t.d - t.b * t.c)
    if yates:
        diff = np.maximum(diff - n / 2.0, 0.0)
    denom = (t.a + t.b) * (t.c + t.d) * (t.a + t.c) * (t.b + t.d)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(denom > 0, n * diff * (diff / denom), np.nan)
    return out


def prr(tables: ContingencyTables, *, alpha: float = 0.05, yates: bool = False) -> PRRResult:
    """Proportional reporting ratio with a Wald interval on the log scale.

    PRR = [a/(a+b)] / [c/(c+d)], SE(ln PRR) = sqrt(1/a - 1/(a+b) + 1/c - 1/(c+d)).
    Tables with a zero cell get 0.5 added to every cell first (flagged in ``corrected``).

    Examples
    --------
    >>> t = ContingencyTables.from_counts(a=[20], b=[80], c=[100], d=[9800])
    >>> r = prr(t)
    >>> round(float(r.prr[0]), 4), round(float(r.chi2[0]), 2)
    (19.8, 301.12)
    """
    problems = Problems()
    check_interval(alpha, "alpha", "prr", 0.0, 1.0, problems)
    problems.raise_if_any()
    flag = tables.zero_cell
    t = tables.corrected()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (t.a / (t.a + t.b)) / (t.c / (t.c + t.d))
        se = np.sqrt(1.0 / t.a - 1.0 / (t.a + t.b) + 1.0 / t.c - 1.0 / (t.c + t.d))
    z = float(ndtri(1.0 - alpha / 2.0))
    log_ratio = np.log(ratio)
    return PRRResult(
        prr=ratio,
        lower=np.exp(log_ratio - z * se),
        upper=np.exp(log_ratio + z * se),
        chi2=chi_square(t, yates=yates),
        corrected=flag,
        alpha=alpha,
        yates=yates,
    )
