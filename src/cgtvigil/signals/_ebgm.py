"""Multi-item gamma Poisson shrinker (DuMouchel, Am Stat 1999).

The prior of the relative reporting rate lambda is a two-component gamma mixture
``p * Gamma(alpha1, beta1) + (1 - p) * Gamma(alpha2, beta2)`` (shape, rate). Given an
expected count E, the count N is a mixture of negative binomials; pairs with N = 0 are not
observed, so the likelihood is truncated at N* = 1 (as openEBGM's ``autoHyper`` with
``zeroes = FALSE``). The posterior of lambda given N and E is again a gamma mixture, from
which EBGM = exp(E[ln lambda]) and its quantiles (EB05, EB95) follow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.special import digamma, expit, gammainc, gammaincinv, gammaln, logit, ndtri

from cgtvigil._validation import Problems, check_interval
from cgtvigil.errors import ConvergenceError, ValidationError
from cgtvigil.signals._table import FloatArray, as_float_array, result_to_arrow

__all__ = ["EBGMResult", "GammaMixturePrior", "GammaMixturePriorFitter", "ebgm", "prior_log_likelihood"]

# openEBGM vignette starting points (alpha1, beta1, alpha2, beta2, p), plus DuMouchel's.
DEFAULT_STARTS: tuple[tuple[float, float, float, float, float], ...] = (
    (0.2, 0.1, 2.0, 4.0, 1 / 3),
    (0.1, 0.1, 10.0, 10.0, 0.2),
    (0.3, 0.5, 6.0, 6.0, 0.5),
    (0.5, 0.3, 12.0, 12.0, 0.8),
    (0.2, 0.2, 5.0, 5.0, 0.4),
    (0.2, 0.02, 2.0, 4.0, 0.1),
)


@dataclass(frozen=True)
class GammaMixturePrior:
    """Hyperparameters of the two-component gamma mixture prior (shape, rate)."""

    alpha1: float
    beta1: float
    alpha2: float
    beta2: float
    p: float

    def __post_init__(self) -> None:
        problems = Problems()
        for name in ("alpha1", "beta1", "alpha2", "beta2"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and np.isfinite(v) and v > 0):
                problems.add(f"The '{name}' parameter of GammaMixturePrior must be a positive float. Got {v!r}.")
        check_interval(self.p, "p", "GammaMixturePrior", 0.0, 1.0, problems)
        problems.raise_if_any()

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _log_nb(n: FloatArray, e: FloatArray, alpha: float, beta: float, gl_alpha_n: FloatArray) -> FloatArray:
    """log NegBin(n; alpha, beta/(beta+E)), with gammaln(alpha + n) precomputed."""
    log_be = np.log(beta + e)
    out: FloatArray = (
        gl_alpha_n - gammaln(alpha) - gammaln(n + 1.0) + alpha * (np.log(beta) - log_be) + n * (np.log(e) - log_be)
    )
    return out


def _unique_n(n: FloatArray) -> tuple[FloatArray, np.ndarray[Any, np.dtype[np.intp]]]:
    values, inverse = np.unique(n, return_inverse=True)
    return values, inverse


def prior_log_likelihood(
    prior: GammaMixturePrior, n: Any, e: Any, weights: Any = None, *, truncated: bool = True
) -> float:
    """Log-likelihood of observed (N, E) pairs under a prior (zero-truncated at N* = 1)."""
    problems = Problems()
    nn = as_float_array(n, "n", "prior_log_likelihood", problems)
    ee = as_float_array(e, "e", "prior_log_likelihood", problems)
    w = np.ones_like(nn) if weights is None else as_float_array(weights, "weights", "prior_log_likelihood", problems)
    problems.raise_if_any()
    theta = np.array([prior.alpha1, prior.beta1, prior.alpha2, prior.beta2, prior.p])
    return -_negll_and_grad(theta, _Points.build(nn, ee, w), truncated, with_grad=False)[0]


@dataclass(frozen=True)
class _Points:
    """(N, E, weight) points with the parameter-free terms computed once."""

    n: FloatArray
    e: FloatArray
    w: FloatArray
    un: FloatArray
    inv: np.ndarray[Any, np.dtype[np.intp]]
    log_e: FloatArray
    gl_n1: FloatArray

    @classmethod
    def build(cls, n: FloatArray, e: FloatArray, w: FloatArray) -> _Points:
        un, inv = _unique_n(n)
        return cls(n, e, w, un, inv, np.log(e), gammaln(n + 1.0))


def _negll_and_grad(
    theta: FloatArray, pts: _Points, truncated: bool, *, with_grad: bool = True
) -> tuple[float, FloatArray]:
    """Negative log-likelihood in natural parameters and its gradient."""
    a1, b1, a2, b2, p = (float(x) for x in theta)
    n, e, w, un, inv = pts.n, pts.e, pts.w, pts.un, pts.inv
    lb1, lb2 = np.log(b1 + e), np.log(b2 + e)
    z1 = a1 * (np.log(b1) - lb1)  # log P(N = 0) of component 1
    z2 = a2 * (np.log(b2) - lb2)
    l1 = gammaln(a1 + un)[inv] - gammaln(a1) - pts.gl_n1 + z1 + n * (pts.log_e - lb1)
    l2 = gammaln(a2 + un)[inv] - gammaln(a2) - pts.gl_n1 + z2 + n * (pts.log_e - lb2)
    m1 = np.log(p) + l1
    m2 = np.log1p(-p) + l2
    mx = np.maximum(m1, m2)
    log_mix = mx + np.log(np.exp(m1 - mx) + np.exp(m2 - mx))
    ll = log_mix
    if truncated:
        e1, e2 = np.exp(z1), np.exp(z2)
        f0 = p * e1 + (1 - p) * e2
        ll = ll - np.log1p(-f0)
    value = -float((w * ll).sum())
    if not with_grad:
        return value, np.empty(0)
    q = np.exp(m1 - log_mix)  # posterior weight of component 1
    r = 1.0 - q
    dz1_a, dz2_a = np.log(b1) - lb1, np.log(b2) - lb2
    d_a1 = q * (digamma(a1 + un)[inv] - digamma(a1) + dz1_a)
    d_b1 = q * (a1 / b1 - (a1 + n) / (b1 + e))
    d_a2 = r * (digamma(a2 + un)[inv] - digamma(a2) + dz2_a)
    d_b2 = r * (a2 / b2 - (a2 + n) / (b2 + e))
    d_p = np.exp(l1 - log_mix) - np.exp(l2 - log_mix)
    if truncated:
        g0 = 1.0 / (1.0 - f0)
        d_a1 = d_a1 + g0 * p * e1 * dz1_a
        d_b1 = d_b1 + g0 * p * e1 * (a1 / b1 - a1 / (b1 + e))
        d_a2 = d_a2 + g0 * (1 - p) * e2 * dz2_a
        d_b2 = d_b2 + g0 * (1 - p) * e2 * (a2 / b2 - a2 / (b2 + e))
        d_p = d_p + g0 * (e1 - e2)
    grad: FloatArray = -(np.stack([d_a1, d_b1, d_a2, d_b2, d_p]) * w).sum(axis=1)
    return value, grad


@dataclass
class GammaMixturePriorFitter:
    """Fit the MGPS gamma-mixture prior by maximum likelihood.

    The optimiser (L-BFGS-B with analytic gradients, on log-shapes, log-rates and logit p)
    starts from several points and keeps the best converged fit.

    Parameters
    ----------
    starts : sequence of (alpha1, beta1, alpha2, beta2, p)
        Starting points; the default is openEBGM's vignette set plus DuMouchel's.
    truncated : bool
        Use the likelihood truncated at N* = 1 (pairs with N = 0 are not observed).
    max_iter : int
        Iteration limit of each optimisation.
    agreeing_starts : int
        Stop once this many starts reach the same optimum (relative 1e-7).

    Attributes
    ----------
    prior_ : GammaMixturePrior
    log_likelihood_ : float
    convergence_ : dict
        Optimiser report: message, iterations, successful starts, all start values.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> e = rng.gamma(1.0, 1.0, 2000)
    >>> n = rng.poisson(e * rng.gamma(2.0, 0.5, 2000)) + 1
    >>> fitter = GammaMixturePriorFitter().fit(n, e)
    >>> fitter.prior_.p > 0
    True
    """

    starts: tuple[tuple[float, float, float, float, float], ...] = DEFAULT_STARTS
    truncated: bool = True
    max_iter: int = 500
    agreeing_starts: int = 2
    prior_: GammaMixturePrior = field(init=False, repr=False)
    log_likelihood_: float = field(init=False, repr=False)
    convergence_: dict[str, Any] = field(init=False, repr=False)

    def fit(self, n: Any, e: Any, weights: Any = None) -> GammaMixturePriorFitter:
        problems = Problems()
        nn = as_float_array(n, "n", "GammaMixturePriorFitter.fit", problems)
        ee = as_float_array(e, "e", "GammaMixturePriorFitter.fit", problems)
        w = (
            np.ones_like(nn)
            if weights is None
            else as_float_array(weights, "weights", "GammaMixturePriorFitter.fit", problems)
        )
        if len(nn) == 0:
            problems.add("GammaMixturePriorFitter.fit needs at least one (N, E) pair. Got none.")
        elif len(nn) != len(ee) or len(nn) != len(w):
            problems.add(f"n, e and weights must have the same length. Got {len(nn)}, {len(ee)}, {len(w)}.")
        elif (ee <= 0).any():
            problems.add("Every expected count E must be positive. Got a value <= 0.")
        if self.truncated and len(nn) and (nn < 1).any():
            problems.add("With truncated=True every observed count N must be >= 1. Got a 0.")
        problems.raise_if_any()
        from scipy.optimize import minimize  # imported here: it costs 0.3 s at start-up

        pts = _Points.build(nn, ee, w)

        def objective(x: FloatArray) -> tuple[float, FloatArray]:
            theta = np.concatenate([np.exp(x[:4]), [expit(x[4])]])
            value, grad = _negll_and_grad(theta, pts, self.truncated)
            chain = np.concatenate([theta[:4], [theta[4] * (1 - theta[4])]])
            if not np.isfinite(value):
                return 1e300, np.zeros(5)
            return value, grad * chain

        best: tuple[float, FloatArray] | None = None
        agreed = 0
        reports = []
        for start in self.starts:
            x0 = np.concatenate([np.log(start[:4]), [logit(start[4])]])
            res = minimize(
                objective,
                x0,
                jac=True,
                method="L-BFGS-B",
                bounds=[(-12, 12)] * 4 + [(-15, 15)],
                options={"maxiter": self.max_iter, "gtol": 1e-8, "ftol": 1e-13},
            )
            # L-BFGS-B may stop on a line-search failure at a stationary point; accept that
            # when the gradient is negligible against the objective.
            grad_max = float(np.abs(res.jac).max()) if res.jac is not None else float("inf")
            ok = bool(np.isfinite(res.fun)) and (bool(res.success) or grad_max <= 1e-3 * max(1.0, abs(float(res.fun))))
            at_bound = bool(np.any(np.abs(res.x[:4]) >= 12 - 1e-6))
            reports.append(
                {
                    "start": list(start),
                    "success": bool(res.success),
                    "accepted": ok,
                    "at_bound": at_bound,
                    "neg_log_likelihood": float(res.fun),
                    "max_gradient": grad_max,
                    "iterations": int(res.nit),
                    "message": str(res.message),
                }
            )
            if ok:
                if best is not None and abs(res.fun - best[0]) <= 1e-7 * max(1.0, abs(best[0])):
                    agreed += 1
                elif best is None or res.fun < best[0]:
                    best, agreed = (float(res.fun), res.x), 1
            if agreed >= self.agreeing_starts:
                break  # the same optimum was reached from independent starts
        if best is None:
            raise ConvergenceError(
                "The gamma-mixture prior fit did not converge from any starting point. "
                "Check that the counts are not degenerate (very few pairs, all N equal), try "
                "data squashing off, or pass other starts."
            )
        x = best[1]
        theta = np.concatenate([np.exp(x[:4]), [expit(x[4])]])
        # Order the components so that component 1 has the smaller prior mean.
        if theta[0] / theta[1] > theta[2] / theta[3]:
            theta = np.array([theta[2], theta[3], theta[0], theta[1], 1 - theta[4]])
        try:
            self.prior_ = GammaMixturePrior(*(float(v) for v in theta))
        except ValidationError as exc:  # a boundary solution: p at 0 or 1
            raise ConvergenceError(
                f"The fitted prior lies on the boundary ({exc}); the data do not support two "
                "components. Check the count distribution."
            ) from exc
        self.log_likelihood_ = -best[0]
        self.convergence_ = {
            "optimizer": "L-BFGS-B",
            "n_points": len(nn),
            "total_weight": float(w.sum()),
            "truncated": self.truncated,
            "n_starts_tried": len(reports),
            "n_converged": sum(r["accepted"] for r in reports),
            "at_bound": bool(np.any(np.abs(x[:4]) >= 12 - 1e-6)),
            "starts": reports,
        }
        return self


@dataclass(frozen=True)
class EBGMResult:
    """Empirical Bayes geometric mean and posterior quantiles."""

    ebgm: FloatArray
    lower: FloatArray
    upper: FloatArray
    q1: FloatArray  # posterior weight of prior component 1
    quantiles: tuple[float, float]

    def to_arrow(self) -> pa.Table:
        return result_to_arrow({"ebgm": self.ebgm, "eb05": self.lower, "eb95": self.upper})


def _posterior_weight(n: FloatArray, e: FloatArray, prior: GammaMixturePrior) -> FloatArray:
    un, inv = _unique_n(n)
    l1 = _log_nb(n, e, prior.alpha1, prior.beta1, gammaln(prior.alpha1 + un)[inv])
    l2 = _log_nb(n, e, prior.alpha2, prior.beta2, gammaln(prior.alpha2 + un)[inv])
    q: FloatArray = expit(np.log(prior.p) + l1 - np.log1p(-prior.p) - l2)
    return q


def _mixture_cdf_pdf(
    x: FloatArray,
    w1: FloatArray,
    s1: FloatArray,
    r1: FloatArray,
    c1: FloatArray,
    s2: FloatArray,
    r2: FloatArray,
    c2: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """CDF and density of w1*Gamma(s1, r1) + (1-w1)*Gamma(s2, r2) at x (c = log normaliser);
    a component of weight 0 is not evaluated."""
    cdf = np.zeros_like(x)
    pdf = np.zeros_like(x)
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        lx = np.log(x)
        for weight, s_k, r_k, c_k in ((w1, s1, r1, c1), (1.0 - w1, s2, r2, c2)):
            use = weight > 0.0
            if use.all():
                cdf += weight * gammainc(s_k, r_k * x)
                pdf += weight * np.exp(c_k + (s_k - 1.0) * lx - r_k * x)
            elif use.any():
                cdf[use] += weight[use] * gammainc(s_k[use], r_k[use] * x[use])
                pdf[use] += weight[use] * np.exp(c_k[use] + (s_k[use] - 1.0) * lx[use] - r_k[use] * x[use])
    return cdf, pdf


def _mixture_quantile(
    prob: float, q: FloatArray, s1: FloatArray, r1: FloatArray, s2: FloatArray, r2: FloatArray
) -> FloatArray:
    """Quantile of q*Gamma(s1, r1) + (1-q)*Gamma(s2, r2).

    A component whose weight is below 1e-13 changes the quantile by less than double-precision
    noise and is dropped. Newton's method starts at the dominant component's quantile
    (Wilson-Hilferty approximation; the exact inverse for shapes below 1) and keeps a bracket
    [lo, hi] of the root, open at first (F(0) = 0, F(inf) = 1). A Newton step that leaves the
    bracket, as happens on the flat stretch between two separated components, is replaced by
    the Illinois (modified regula falsi) step, or by doubling while no upper end is known.
    Iteration stops at a relative change of 1e-12.
    """
    tiny = 1e-13
    w1 = np.where(q <= tiny, 0.0, np.where(q >= 1.0 - tiny, 1.0, q))
    c1 = s1 * np.log(r1) - gammaln(s1)
    c2 = s2 * np.log(r2) - gammaln(s2)
    first = w1 >= 0.5
    s_d = np.where(first, s1, s2)
    r_d = np.where(first, r1, r2)
    z = float(ndtri(prob))
    with np.errstate(invalid="ignore"):
        guess = s_d * (1.0 - 1.0 / (9.0 * s_d) + z / (3.0 * np.sqrt(s_d))) ** 3
    exact = (s_d < 1.0) | ~(guess > 0)
    if exact.any():
        guess[exact] = gammaincinv(s_d[exact], prob)
    x = guess / r_d
    lo = np.zeros_like(x)
    hi = np.full_like(x, np.inf)
    f_lo = np.full_like(x, -prob)
    f_hi = np.full_like(x, 1.0 - prob)
    side = np.zeros_like(x)
    active = np.arange(len(x))
    for _ in range(100):
        a = active
        xs = x[a]
        cdf, pdf = _mixture_cdf_pdf(xs, w1[a], s1[a], r1[a], c1[a], s2[a], r2[a], c2[a])
        f = cdf - prob
        below = f < 0
        # Illinois: when the same end of the bracket moves twice, halve the other end's value.
        same = np.where(below, side[a] < 0, side[a] > 0)
        lo[a] = np.where(below, xs, lo[a])
        f_lo[a] = np.where(below, f, np.where(same, 0.5 * f_lo[a], f_lo[a]))
        hi[a] = np.where(~below, xs, hi[a])
        f_hi[a] = np.where(~below, f, np.where(same, 0.5 * f_hi[a], f_hi[a]))
        side[a] = np.where(below, -1.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            new = xs - f / pdf
            secant = lo[a] - f_lo[a] * (hi[a] - lo[a]) / (f_hi[a] - f_lo[a])
        bounded = np.isfinite(hi[a])
        outside = ~np.isfinite(new) | (new <= lo[a]) | (new >= hi[a])
        fallback = np.where(bounded, np.where(np.isfinite(secant), secant, 0.5 * (lo[a] + hi[a])), 2.0 * xs)
        new = np.where(outside, fallback, new)
        new = np.where(f == 0, xs, new)
        x[a] = new
        closed = bounded & (hi[a] - lo[a] <= 1e-13 * hi[a])
        active = a[(np.abs(new - xs) > 1e-12 * np.abs(xs)) & ~closed & (f != 0)]
        if len(active) == 0:
            break
    out: FloatArray = x
    return out


def ebgm(n: Any, e: Any, prior: GammaMixturePrior, *, quantiles: tuple[float, float] = (0.05, 0.95)) -> EBGMResult:
    """EBGM, EB05 and EB95 for each (N, E) pair given a gamma-mixture prior (NaN where E = 0).

    Examples
    --------
    >>> prior = GammaMixturePrior(0.2, 0.1, 2.0, 4.0, 1 / 3)
    >>> r = ebgm([5], [1.0], prior)
    >>> bool(r.lower[0] < r.ebgm[0] < r.upper[0])
    True
    """
    problems = Problems()
    nn = as_float_array(n, "n", "ebgm", problems)
    ee = as_float_array(e, "e", "ebgm", problems)
    for qv in quantiles:
        check_interval(qv, "quantiles", "ebgm", 0.0, 1.0, problems)
    if len(nn) != len(ee):
        problems.add(f"The 'n' and 'e' parameters of ebgm must have the same length. Got {len(nn)} and {len(ee)}.")
    problems.raise_if_any()
    # E = 0 (no reports of the drug or of the event): EBGM is undefined, NaN.
    ok = ee > 0
    if not ok.all():
        full = ebgm(nn[ok], ee[ok], prior, quantiles=quantiles)
        out = {}
        for name in ("ebgm", "lower", "upper", "q1"):
            arr = np.full(len(nn), np.nan)
            arr[ok] = getattr(full, name)
            out[name] = arr
        return EBGMResult(out["ebgm"], out["lower"], out["upper"], out["q1"], quantiles)
    q = _posterior_weight(nn, ee, prior)
    s1, r1 = prior.alpha1 + nn, prior.beta1 + ee
    s2, r2 = prior.alpha2 + nn, prior.beta2 + ee
    un, inv = _unique_n(nn)
    log_gm = q * (digamma(prior.alpha1 + un)[inv] - np.log(r1)) + (1 - q) * (
        digamma(prior.alpha2 + un)[inv] - np.log(r2)
    )
    return EBGMResult(
        ebgm=np.exp(log_gm),
        lower=_mixture_quantile(quantiles[0], q, s1, r1, s2, r2),
        upper=_mixture_quantile(quantiles[1], q, s1, r1, s2, r2),
        q1=q,
        quantiles=quantiles,
    )
