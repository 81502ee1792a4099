"""Reporting odds ratio with Woolf's interval (van Puijenbroek et al., PDS 2002)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.special import ndtri

from cgtvigil._validation import Problems, check_interval
from cgtvigil.signals._table import ContingencyTables, FloatArray, result_to_arrow

__all__ = ["RORResult", "ror"]


@dataclass(frozen=True)
class RORResult:
    """ROR with its confidence interval, one value per table."""

    ror: FloatArray
    lower: FloatArray
    upper: FloatArray
    corrected: np.ndarray[Any, np.dtype[np.bool_]]
    alpha: float

    def to_arrow(self) -> pa.Table:
        return result_to_arrow(
            {"ror": self.ror, "ror_lower": self.lower, "ror_upper": self.upper, "ror_corrected": self.corrected}
        )


def ror(tables: ContingencyTables, *, alpha: float = 0.05) -> RORResult:
    """Reporting odds ratio (a/b)/(c/d) with SE(ln ROR) = sqrt(1/a + 1/b + 1/c + 1/d).

    Tables with a zero cell get 0.5 added to every cell first (flagged in ``corrected``).

    Examples
    --------
    >>> t = ContingencyTables.from_counts(a=[20], b=[80], c=[100], d=[9800])
    >>> round(float(ror(t).ror[0]), 4)
    24.5
    """
    problems = Problems()
    check_interval(alpha, "alpha", "ror", 0.0, 1.0, problems)
    problems.raise_if_any()
    flag = tables.zero_cell
    t = tables.corrected()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (t.a * t.d) / (t.b * t.c)
        se = np.sqrt(1.0 / t.a + 1.0 / t.b + 1.0 / t.c + 1.0 / t.d)
    z = float(ndtri(1.0 - alpha / 2.0))
    log_ratio = np.log(ratio)
    return RORResult(
        ror=ratio,
        lower=np.exp(log_ratio - z * se),
        upper=np.exp(log_ratio + z * se),
        corrected=flag,
        alpha=alpha,
    )
