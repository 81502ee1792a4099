"""Time to onset: a Weibull fitted by maximum likelihood, with interval censoring for partial dates.

The Weibull shape parameter test (WSP; Cornelius, Sauzet, Evans, Statistical Methods in Medical
Research 2012; van Holle and Bauchau, Pharmacoepidemiology and Drug Safety 2014) reads the hazard
of an adverse event after the start of a treatment from the 95% confidence interval of the
shape ``k``: entirely below 1, the hazard falls with time (early onset: the event comes soon
after exposure if it comes at all); containing 1, no evidence against a constant hazard;
entirely above 1, the hazard rises with time (late onset, wear-out).

Onsets are intervals ``[lower, upper]`` in days: ``lower == upper`` is an exact onset,
``upper = inf`` a right-censored one, ``lower = 0`` a left-censored one. A report whose dates
are known to the month or year gives an interval (see ``cgtvigil.screening.onset_intervals``).
The likelihood is exact (density) for exact onsets and S(lower) - S(upper) for intervals, with
S(t) = exp(-(t / scale) ** shape). Confidence intervals are Wald intervals on the log scale
from the observed information (a finite-difference Hessian), so they stay positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.special import ndtri

from cgtvigil._validation import Problems, check_interval
from cgtvigil.errors import ConvergenceError, ValidationError
from cgtvigil.signals._table import FloatArray, result_to_arrow

__all__ = ["HAZARD_READINGS", "OnsetComparison", "WeibullOnsetFitter", "compare_onsets", "hazard_reading"]

HAZARD_READINGS = {
    "early": "decreasing hazard: shape CI below 1 (onset early after the start)",
    "constant": "constant hazard: shape CI contains 1",
    "late": "increasing hazard: shape CI above 1 (late onset, wear-out)",
}


def hazard_reading(shape_lower: float, shape_upper: float) -> str:
    """The WSP reading of a shape confidence interval: 'early', 'constant' or 'late'.

    Examples
    --------
    >>> hazard_reading(0.4, 0.8), hazard_reading(0.7, 1.3), hazard_reading(1.5, 2.4)
    ('early', 'constant', 'late')
    """
    if shape_upper < 1.0:
        return "early"
    if shape_lower > 1.0:
        return "late"
    return "constant"


def _as_intervals(lower: Any, upper: Any, owner: str) -> tuple[FloatArray, FloatArray]:
    problems = Problems()
    lo = np.atleast_1d(np.asarray(lower, dtype=np.float64))
    hi = lo.copy() if upper is None else np.atleast_1d(np.asarray(upper, dtype=np.float64))
    if lo.ndim != 1 or lo.shape != hi.shape:
        problems.add(
            f"The 'lower' and 'upper' parameters of {owner} must be 1-D and of one length. Got {lo.shape}, {hi.shape}."
        )
        problems.raise_if_any()
    bad = ~np.isfinite(lo) | (lo < 0) | np.isnan(hi) | (hi < lo) | ((hi == lo) & (lo <= 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        problems.add(
            f"The onsets given to {owner} must be intervals 0 <= lower <= upper (upper may be inf; an exact "
            f"onset must be > 0). Got [{lo[i]!r}, {hi[i]!r}] at position {i} ({int(bad.sum())} bad in all)."
        )
    if len(lo) < 3:
        problems.add(f"The onsets given to {owner} must number at least 3. Got {len(lo)}.")
    problems.raise_if_any()
    return lo, hi


def _negloglik(theta: FloatArray, lo: FloatArray, hi: FloatArray, exact: FloatArray) -> tuple[float, FloatArray]:
    """Negative log-likelihood and its gradient in theta = (log scale, log shape).

    With k the shape, u = log(t) - log(scale) and z = exp(k u) = (t / scale) ** k: an exact onset
    contributes log k - log scale + (k - 1) u - z; an interval log(S(lower) - S(upper)), S = exp(-z).
    """
    log_scale, log_shape = float(theta[0]), float(theta[1])
    k = np.exp(log_shape)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        u_lo = np.log(lo) - log_scale
        u_hi = np.log(hi) - log_scale
        z_lo = np.where(lo > 0, np.exp(k * u_lo), 0.0)
        z_hi = np.where(np.isinf(hi), np.inf, np.exp(k * u_hi))
        # exact onsets
        ll_e = log_shape - log_scale + (k - 1.0) * u_lo - z_lo
        ga_e = k * (z_lo - 1.0)
        gb_e = 1.0 + k * u_lo * (1.0 - z_lo)
        # intervals: d/dtheta log(S_lo - S_hi) = (-S_lo dz_lo + S_hi dz_hi) / (S_lo - S_hi)
        gap = z_hi - z_lo
        ll_i = -z_lo + np.log(-np.expm1(-gap))
        w_lo = 1.0 / -np.expm1(-gap)  # S_lo / (S_lo - S_hi)
        w_hi = np.where(np.isinf(gap), 0.0, np.exp(-gap) * w_lo)  # S_hi / (S_lo - S_hi)
        kz_lo = np.where(lo > 0, k * z_lo, 0.0)
        kz_hi = np.where(np.isinf(hi), 0.0, k * z_hi)
        kuz_lo = np.where(lo > 0, kz_lo * u_lo, 0.0)
        kuz_hi = np.where(np.isinf(hi), 0.0, kz_hi * u_hi)
        ga_i = w_lo * kz_lo - w_hi * kz_hi
        gb_i = -w_lo * kuz_lo + w_hi * kuz_hi
    ll = np.where(exact, ll_e, ll_i)
    total = float(ll.sum())
    grad = np.array([float(np.where(exact, ga_e, ga_i).sum()), float(np.where(exact, gb_e, gb_i).sum())])
    if not np.isfinite(total) or not np.all(np.isfinite(grad)):
        return np.inf, np.zeros(2)
    return -total, -grad


def _hessian(grad: Any, x: FloatArray, h: float = 1e-5) -> FloatArray:
    """Central differences of the analytic gradient, symmetrised."""
    out = np.zeros((len(x), len(x)))
    for i in range(len(x)):
        e = np.zeros(len(x))
        e[i] = h
        out[:, i] = (grad(x + e) - grad(x - e)) / (2 * h)
    return (out + out.T) / 2


class WeibullOnsetFitter:
    """Weibull fit of onset times with interval censoring, and the WSP hazard reading.

    Parameters
    ----------
    alpha : float
        1 - confidence level of the intervals (0.05 gives 95% intervals).

    Attributes (after ``fit``)
    --------------------------
    shape_, scale_ : float
        Maximum-likelihood Weibull shape ``k`` and scale (days).
    shape_ci_, scale_ci_ : tuple of float
        Wald intervals on the log scale.
    shape_se_, scale_se_ : float
        Standard errors on the natural scale (delta method).
    median_ : float
        Median onset (days): scale * log(2) ** (1 / shape).
    hazard_ : str
        'early', 'constant' or 'late' (see :func:`hazard_reading`).
    log_likelihood_ : float
    n_, n_exact_, n_censored_ : int

    Examples
    --------
    >>> f = WeibullOnsetFitter().fit([1.0, 2.0, 2.0, 3.0, 5.0, 8.0, 13.0])
    >>> round(f.shape_, 3), f.hazard_
    (1.29, 'constant')
    """

    def __init__(self, *, alpha: float = 0.05) -> None:
        self.alpha = alpha

    def fit(self, lower: Any, upper: Any = None) -> WeibullOnsetFitter:
        owner = "WeibullOnsetFitter"
        problems = Problems()
        check_interval(self.alpha, "alpha", owner, 0.0, 1.0, problems)
        problems.raise_if_any()
        lo, hi = _as_intervals(lower, upper, owner)
        exact = lo == hi
        mid = np.where(exact, lo, np.where(np.isinf(hi), np.maximum(lo, 1e-3) * 2.0, (lo + hi) / 2.0))
        logs = np.log(np.maximum(mid, 1e-3))
        spread = float(np.std(logs))
        if spread <= 0 and exact.all():
            raise ConvergenceError(
                f"{owner}: every onset is {float(lo[0])!r} days, so the Weibull shape has no finite estimate; "
                "check the dates (a default date?) or report the onsets without a fit."
            )
        k0 = 1.283 / spread if spread > 0 else 1.0
        theta0 = np.array([float(np.mean(logs)) + 0.5772 / k0, np.log(k0)])

        def nll(theta: FloatArray) -> tuple[float, FloatArray]:
            return _negloglik(theta, lo, hi, exact)

        from scipy.optimize import minimize  # imported here: scipy.optimize costs 0.3 s at start-up

        res = minimize(nll, theta0, jac=True, method="BFGS", options={"gtol": 1e-8})
        if not (res.success and np.isfinite(res.fun)):  # a poor start: simplex first, then BFGS again
            simplex = minimize(
                lambda th: nll(th)[0], theta0, method="Nelder-Mead", options={"xatol": 1e-9, "maxiter": 4000}
            )
            res = minimize(nll, simplex.x, jac=True, method="BFGS", options={"gtol": 1e-8})
        if not np.isfinite(res.fun) or abs(float(res.x[1])) > 6:
            raise ConvergenceError(
                f"{owner}: the likelihood did not converge (shape {float(np.exp(res.x[1])):.3g}); check for onsets "
                "that are all censored or concentrated on one day."
            )
        theta = np.asarray(res.x, dtype=np.float64)
        hess = _hessian(lambda th: nll(th)[1], theta)
        try:
            cov = np.linalg.inv(hess)
        except np.linalg.LinAlgError as exc:
            raise ConvergenceError(
                f"{owner}: the information matrix is singular ({exc}); too few distinct onsets."
            ) from exc
        if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
            raise ConvergenceError(
                f"{owner}: the information matrix is not positive definite; too few distinct onsets."
            )
        se_log = np.sqrt(np.diag(cov))
        zq = float(ndtri(1.0 - self.alpha / 2.0))
        self.scale_ = float(np.exp(theta[0]))
        self.shape_ = float(np.exp(theta[1]))
        self.scale_se_ = self.scale_ * float(se_log[0])
        self.shape_se_ = self.shape_ * float(se_log[1])
        self.scale_ci_ = (float(np.exp(theta[0] - zq * se_log[0])), float(np.exp(theta[0] + zq * se_log[0])))
        self.shape_ci_ = (float(np.exp(theta[1] - zq * se_log[1])), float(np.exp(theta[1] + zq * se_log[1])))
        self.median_ = self.scale_ * float(np.log(2.0)) ** (1.0 / self.shape_)
        self.hazard_ = hazard_reading(*self.shape_ci_)
        self.log_likelihood_ = -float(res.fun)
        self.n_ = len(lo)
        self.n_exact_ = int(exact.sum())
        self.n_censored_ = self.n_ - self.n_exact_
        return self

    def summary(self) -> dict[str, Any]:
        """The fitted values as one flat record (for tables and JSON)."""
        if not hasattr(self, "shape_"):
            raise ValidationError(["WeibullOnsetFitter.summary needs a fitted model: call fit() first."])
        return {
            "n": self.n_,
            "n_exact": self.n_exact_,
            "n_censored": self.n_censored_,
            "shape": self.shape_,
            "shape_lower": self.shape_ci_[0],
            "shape_upper": self.shape_ci_[1],
            "scale": self.scale_,
            "scale_lower": self.scale_ci_[0],
            "scale_upper": self.scale_ci_[1],
            "median_days": self.median_,
            "hazard": self.hazard_,
            "log_likelihood": self.log_likelihood_,
        }


@dataclass(frozen=True)
class OnsetComparison:
    """Weibull fits per group and the likelihood-ratio test of one common onset distribution."""

    groups: tuple[str, ...]
    fits: tuple[dict[str, Any], ...]
    pooled: dict[str, Any]
    lr_statistic: float
    df: int
    p_value: float

    def to_arrow(self) -> pa.Table:
        cols: dict[str, Any] = {"group": np.array(self.groups, dtype=object)}
        for key in ("n", "shape", "shape_lower", "shape_upper", "scale", "median_days"):
            cols[key] = np.array([f[key] for f in self.fits], dtype=np.float64)
        cols["hazard"] = np.array([f["hazard"] for f in self.fits], dtype=object)
        return result_to_arrow(cols)


def compare_onsets(groups: dict[str, tuple[Any, Any]], *, alpha: float = 0.05) -> OnsetComparison:
    """Fit each group (e.g. each product of a class) and test a common Weibull for all of them.

    LR = 2 (sum of the groups' log-likelihoods - the pooled log-likelihood), chi-square with
    2 (groups - 1) degrees of freedom under H0 (same shape and scale in every group).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> c = compare_onsets({"a": (rng.weibull(0.7, 40) * 5, None), "b": (rng.weibull(2.5, 40) * 60, None)})
    >>> c.p_value < 0.001, [f["hazard"] for f in c.fits]
    (True, ['early', 'late'])
    """
    if len(groups) < 2:
        raise ValidationError(
            [f"The 'groups' parameter of compare_onsets must hold 2 or more groups. Got {len(groups)}."]
        )
    names = tuple(groups)
    fits = []
    los, his = [], []
    for name in names:
        lo, hi = groups[name]
        lo_arr = np.atleast_1d(np.asarray(lo, dtype=np.float64))
        hi_arr = lo_arr.copy() if hi is None else np.atleast_1d(np.asarray(hi, dtype=np.float64))
        fits.append(WeibullOnsetFitter(alpha=alpha).fit(lo_arr, hi_arr))
        los.append(lo_arr)
        his.append(hi_arr)
    pooled = WeibullOnsetFitter(alpha=alpha).fit(np.concatenate(los), np.concatenate(his))
    lr = max(0.0, 2.0 * (sum(f.log_likelihood_ for f in fits) - pooled.log_likelihood_))
    df = 2 * (len(names) - 1)
    from scipy.stats import chi2  # imported here: scipy.stats costs about 1 s at start-up

    return OnsetComparison(names, tuple(f.summary() for f in fits), pooled.summary(), lr, df, float(chi2.sf(lr, df)))
