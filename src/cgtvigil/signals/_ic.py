"""BCPNN information component with the shrinkage of Norén et al. (Stat Med 2006).

IC = log2((O + 0.5) / (E + 0.5)). Credibility limits come from the Gamma(O + 0.5, E + 0.5)
posterior of the observed-to-expected ratio (Norén, Hopstadius, Bate; SMMR 2013), either
exactly (gamma quantiles, the default) or by the closed-form approximation
IC025 ~ IC - 3.3 (O+0.5)^-1/2 - 2 (O+0.5)^-3/2, IC975 ~ IC + 2.4 (O+0.5)^-1/2 - 0.5 (O+0.5)^-3/2,
which holds for the 95% interval only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from scipy.special import gammaincinv

from cgtvigil._validation import Problems, check_in, check_interval
from cgtvigil.signals._table import FloatArray, as_float_array, result_to_arrow

__all__ = ["ICResult", "information_component"]

ICMethod = Literal["exact", "approx"]


@dataclass(frozen=True)
class ICResult:
    """IC with its lower and upper credibility limits (log2 scale)."""

    ic: FloatArray
    lower: FloatArray
    upper: FloatArray
    alpha: float
    method: str

    def to_arrow(self) -> pa.Table:
        return result_to_arrow({"ic": self.ic, "ic025": self.lower, "ic975": self.upper})


def information_component(observed: Any, expected: Any, *, alpha: float = 0.05, method: ICMethod = "exact") -> ICResult:
    """Shrunk information component and its credibility interval.

    Parameters
    ----------
    observed : array-like
        Observed report counts O (``a`` of the 2x2 table).
    expected : array-like
        Expected counts E (crude (a+b)(a+c)/N or stratified).
    alpha : float
        1 - credibility level; the default gives IC025 and IC975.
    method : {"exact", "approx"}
        Gamma posterior quantiles, or the closed-form approximation (alpha = 0.05 only).

    Examples
    --------
    >>> r = information_component([20], [1.2])
    >>> round(float(r.ic[0]), 3)
    3.592
    """
    problems = Problems()
    o = as_float_array(observed, "observed", "information_component", problems)
    e = as_float_array(expected, "expected", "information_component", problems)
    check_interval(alpha, "alpha", "information_component", 0.0, 1.0, problems)
    check_in(method, "method", "information_component", ("exact", "approx"), problems)
    if method == "approx" and alpha != 0.05:
        problems.add(
            "The 'method' parameter of information_component may be 'approx' only with "
            f"alpha=0.05 (the approximation is for 95% limits). Got alpha={alpha!r}."
        )
    if len(o) != len(e):
        problems.add(
            "The 'observed' and 'expected' parameters of information_component must have the "
            f"same length. Got {len(o)} and {len(e)}."
        )
    problems.raise_if_any()
    shape = o + 0.5
    rate = e + 0.5
    ic = np.log2(shape / rate)
    if method == "exact":
        # The quantiles depend on O alone: computed once per distinct count (counts repeat a lot).
        shapes, back = np.unique(shape, return_inverse=True)
        lower = np.log2(gammaincinv(shapes, alpha / 2.0)[back] / rate)
        upper = np.log2(gammaincinv(shapes, 1.0 - alpha / 2.0)[back] / rate)
    else:
        lower = ic - 3.3 * shape**-0.5 - 2.0 * shape**-1.5
        upper = ic + 2.4 * shape**-0.5 - 0.5 * shape**-1.5
    return ICResult(ic=ic, lower=lower, upper=upper, alpha=alpha, method=method)
