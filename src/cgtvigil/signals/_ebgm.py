"""Multi-item gamma Poisson shrinker (DuMouchel, Am Stat 1999; DuMouchel & Pregibon, KDD 2001).

The prior of the relative reporting rate lambda is a two-component gamma mixture
``P * Gamma(alpha1, beta1) + (1 - P) * Gamma(alpha2, beta2)`` (shape, rate). Given an expected
count E, each component makes the count N negative binomial (size alpha, prob beta/(beta+E)).
Pairs with N < N* are not observed (N* = 1: pairs never reported), so each component is
truncated at N* on its own, as in openEBGM's ``negLL`` / ``negLLsquash`` (FDA CFSAN):

    L(N) = P f1(N) / (1 - F1(N* - 1)) + (1 - P) f2(N) / (1 - F2(N* - 1)).

The posterior of lambda given N and E is again a gamma mixture, from which EBGM =
exp(E[ln lambda]) and its quantiles (EB05, EB95) follow.
"""

from __future__ import annotations

import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.special import betainc, digamma, expit, gammainc, gammaincinv, gammaln, logit, ndtri
from threadpoolctl import threadpool_limits

from cgtvigil._validation import Problems, check_interval
from cgtvigil.errors import ConvergenceError, StatisticalCaveatWarning, ValidationError
from cgtvigil.signals._table import FloatArray, as_float_array, result_to_arrow

# BLAS's thread count is the process's: fits in two threads at once would restore each other's
# limit out of order (and leave BLAS single-threaded), so fits hold this while it is lowered.
_BLAS_LIMIT = threading.Lock()

__all__ = ["EBGMResult", "GammaMixturePrior", "GammaMixturePriorFitter", "ebgm", "prior_log_likelihood"]

# openEBGM's vignette starting points (alpha1, beta1, alpha2, beta2, P), then one more with a
# small P: component 1 is the diffuse one (small shape), as openEBGM's starts label it.
DEFAULT_STARTS: tuple[tuple[float, float, float, float, float], ...] = (
    (0.2, 0.1, 2.0, 4.0, 1 / 3),
    (0.1, 0.1, 10.0, 10.0, 0.2),
    (0.3, 0.5, 6.0, 6.0, 0.5),
    (0.5, 0.3, 12.0, 12.0, 0.8),
    (0.2, 0.2, 5.0, 5.0, 0.4),
    (0.2, 0.02, 2.0, 4.0, 0.1),
)
# autoHyper's defaults: a fit is accepted when it is this close to another start's optimum
# (absolute, per parameter) and every parameter lies inside (0, PARAM_LIMIT) and 0 < P < 1.
CLOSE_TOLERANCE: tuple[float, float, float, float, float] = (0.05, 0.05, 0.2, 0.2, 0.025)
PARAM_LIMIT = 100.0
_PARALLEL_ABOVE = 20_000  # pairs from which EB05 and EB95 are computed in two threads


@dataclass(frozen=True)
class GammaMixturePrior:
    """Hyperparameters of the two-component gamma mixture prior (shape, rate; P weighs component 1)."""

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


def _check_n_star(n_star: Any, where: str, problems: Problems) -> None:
    if isinstance(n_star, bool) or not isinstance(n_star, int | np.integer) or n_star < 1:
        problems.add(f"The 'n_star' parameter of {where} must be an integer >= 1. Got {n_star!r}.")


def prior_log_likelihood(
    prior: GammaMixturePrior, n: Any, e: Any, weights: Any = None, *, truncated: bool = True, n_star: int = 1
) -> float:
    """Log-likelihood of weighted (N, E) points under a prior: openEBGM's ``negLLsquash``
    (each component truncated at ``n_star``; ``truncated=False``: ``negLLzeroSquash``), negated.

    Examples
    --------
    >>> prior = GammaMixturePrior(0.2, 0.1, 2.0, 4.0, 1 / 3)
    >>> round(prior_log_likelihood(prior, [1, 2, 5], [0.5, 1.0, 2.0]), 6)
    -5.460794
    """
    problems = Problems()
    nn = as_float_array(n, "n", "prior_log_likelihood", problems)
    ee = as_float_array(e, "e", "prior_log_likelihood", problems)
    w = np.ones_like(nn) if weights is None else as_float_array(weights, "weights", "prior_log_likelihood", problems)
    _check_n_star(n_star, "prior_log_likelihood", problems)
    if truncated and len(nn) and (nn < n_star).any():
        problems.add(f"With truncation at n_star = {n_star} every count N must be >= {n_star}. Got a smaller one.")
    problems.raise_if_any()
    theta = np.array([prior.alpha1, prior.beta1, prior.alpha2, prior.beta2, prior.p])
    return -_negll_and_grad(theta, _Points.build(nn, ee, w), n_star if truncated else 0, with_grad=False)[0]


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


def _component(
    a: float, b: float, pts: _Points, n_star: int, with_grad: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """One component's log truncated pmf g = log f(N) - log(1 - F(N* - 1)) and its partial
    derivatives in alpha and beta (n_star = 0: no truncation).

    It runs some 600 times in a fit: the arrays are updated in place (the same operations in
    the same order as the formulas in the comments, so the same values to the bit)."""
    n, e, un, inv = pts.n, pts.e, pts.un, pts.inv
    be = b + e
    lb = np.log(be)
    z_a = np.log(b) - lb  # d/dalpha of log f(0) = alpha * log(beta / (beta + E))
    z = a * z_a
    # g = gammaln(a + N) - gammaln(a) - gammaln(N + 1) + z + N (log E - log(b + E))
    g = gammaln(a + un)[inv]
    g -= gammaln(a)
    g -= pts.gl_n1
    g += z
    t = pts.log_e - lb
    t *= n
    g += t
    if n_star == 1:  # 1 - F(0) = 1 - (beta / (beta + E))^alpha, exactly also when E is tiny
        log_surv = np.negative(np.expm1(z))
        np.log(log_surv, out=log_surv)
    elif n_star > 1:  # P(N >= N*) = I_{E/(beta+E)}(N*, alpha)
        log_surv = np.log(betainc(float(n_star), a, e / be))
    if n_star:
        g -= log_surv
    if not with_grad:
        return g, g, g
    # g_a = digamma(a + N) - digamma(a) + z_a; g_b = a / b - (a + N) / (b + E)
    g_a = digamma(a + un)[inv]
    g_a -= digamma(a)
    g_a += z_a
    g_b = a + n
    g_b /= be
    np.subtract(a / b, g_b, out=g_b)
    if n_star == 1:  # the sum below with k = 0 only: f(0) = exp(z)
        # g_a += ratio0 z_a; g_b += ratio0 (a / b - a / (b + E)), ratio0 = exp(z - log_surv)
        ratio0 = np.subtract(z, log_surv, out=z)
        np.exp(ratio0, out=ratio0)
        np.multiply(ratio0, z_a, out=t)
        g_a += t
        np.divide(a, be, out=t)
        np.subtract(a / b, t, out=t)
        t *= ratio0
        g_b += t
    elif n_star:
        # d log(1 - F) = -dF / (1 - F), F(N* - 1) = sum over k < N* of f(k).
        k = np.arange(n_star, dtype=np.float64)[:, None]
        log_fk = gammaln(a + k) - gammaln(a) - gammaln(k + 1.0) + z + k * (pts.log_e - lb)
        ratio = np.exp(log_fk - log_surv)  # f(k) / (1 - F)
        g_a = g_a + (ratio * (digamma(a + k) - digamma(a) + z_a)).sum(axis=0)
        g_b = g_b + (ratio * (a / b - (a + k) / be)).sum(axis=0)
    return g, g_a, g_b


def _negll_and_grad(
    theta: FloatArray, pts: _Points, n_star: int, *, with_grad: bool = True
) -> tuple[float, FloatArray]:
    """Negative log-likelihood in natural parameters (openEBGM's) and its gradient (arrays
    updated in place, as in :func:`_component`)."""
    a1, b1, a2, b2, p = (float(x) for x in theta)
    g1, g1_a, g1_b = _component(a1, b1, pts, n_star, with_grad)
    g2, g2_a, g2_b = _component(a2, b2, pts, n_star, with_grad)
    w = pts.w
    m1 = np.log(p) + g1
    m2 = np.log1p(-p) + g2
    # log_mix = mx + log(exp(m1 - mx) + exp(m2 - mx)), mx = max(m1, m2)
    log_mix = np.maximum(m1, m2)
    t = np.subtract(m1, log_mix)
    u = np.subtract(m2, log_mix)
    np.exp(t, out=t)
    np.exp(u, out=u)
    t += u
    np.log(t, out=t)
    log_mix += t
    value = -float(np.multiply(w, log_mix, out=t).sum())
    if not with_grad:
        return value, np.empty(0)
    q = np.subtract(m1, log_mix, out=m1)  # posterior weight of component 1: exp(m1 - log_mix)
    np.exp(q, out=q)
    r = np.subtract(1.0, q, out=m2)
    d_p = np.subtract(g1, log_mix, out=g1)  # exp(g1 - log_mix) - exp(g2 - log_mix)
    np.exp(d_p, out=d_p)
    np.subtract(g2, log_mix, out=u)
    np.exp(u, out=u)
    d_p -= u

    def weighted_sum(x: FloatArray, y: FloatArray | None = None) -> float:
        if y is not None:
            x = np.multiply(x, y, out=t)
        return float(np.multiply(x, w, out=t).sum())

    grad: FloatArray = -np.array(
        [weighted_sum(q, g1_a), weighted_sum(q, g1_b), weighted_sum(r, g2_a), weighted_sum(r, g2_b), weighted_sum(d_p)]
    )
    return value, grad


def _natural(x: FloatArray) -> FloatArray:
    """Optimiser coordinates (log shapes and rates, logit P) to natural parameters, labelled
    as openEBGM's starts are: component 1 the diffuse one (alpha1 <= alpha2)."""
    theta = np.concatenate([np.exp(x[:4]), [expit(x[4])]])
    if theta[0] > theta[2]:
        theta = np.array([theta[2], theta[3], theta[0], theta[1], 1.0 - theta[4]])
    return theta


def _in_bounds(theta: FloatArray) -> bool:
    return bool(np.all(theta[:4] > 0) and np.all(theta[:4] < PARAM_LIMIT) and 0.0 < theta[4] < 1.0)


@dataclass
class GammaMixturePriorFitter:
    """Fit the MGPS gamma-mixture prior by maximum likelihood, as openEBGM's ``autoHyper``.

    The likelihood is openEBGM's (each component truncated at ``n_star``). Every start is
    optimised (L-BFGS-B with analytic gradients, on log shapes, log rates and logit P) and
    reported. As in ``autoHyper``, the accepted fit is the best converged solution with every
    parameter in (0, 100) and 0 < P < 1, and it should lie within ``close_tolerance`` of at least
    one other start's solution; when it does not (or no solution is in bounds) the fit is still
    returned, with a :class:`StatisticalCaveatWarning` and ``convergence_["consistent"] = False``.

    Parameters
    ----------
    starts : sequence of (alpha1, beta1, alpha2, beta2, P)
        Starting points; the default is openEBGM's vignette set plus one with a small P.
    truncated : bool
        Truncate each component at ``n_star`` (pairs with N < N* are not observed). False fits
        the untruncated likelihood (openEBGM's ``zeroes = TRUE``; N = 0 pairs included).
    n_star : int
        The smallest count used in the fit (openEBGM's ``N_star``).
    max_iter : int
        Iteration limit of each optimisation.
    close_tolerance : (float, float, float, float, float)
        Absolute closeness per parameter (autoHyper's ``tol``).

    Attributes
    ----------
    prior_ : GammaMixturePrior
    log_likelihood_ : float
    convergence_ : dict
        Optimiser report: every start with its optimum, the accepted start, how many others
        are close to it and whether the fit is consistent.

    Examples
    --------
    Pairs drawn from 10% diffuse (Gamma(0.5, 0.25)) and 90% background (Gamma(8, 8)) rates;
    only pairs with N >= 1 are observed:

    >>> rng = np.random.default_rng(0)
    >>> lam = np.where(rng.random(20000) < 0.1, rng.gamma(0.5, 4.0, 20000), rng.gamma(8.0, 1 / 8, 20000))
    >>> e = rng.gamma(1.0, 2.0, 20000)
    >>> n = rng.poisson(lam * e)
    >>> fitter = GammaMixturePriorFitter().fit(n[n >= 1], e[n >= 1])
    >>> round(fitter.prior_.p, 2), fitter.convergence_["consistent"]
    (0.09, True)
    """

    starts: tuple[tuple[float, float, float, float, float], ...] = DEFAULT_STARTS
    truncated: bool = True
    n_star: int = 1
    max_iter: int = 500
    close_tolerance: tuple[float, float, float, float, float] = CLOSE_TOLERANCE
    prior_: GammaMixturePrior = field(init=False, repr=False)
    log_likelihood_: float = field(init=False, repr=False)
    convergence_: dict[str, Any] = field(init=False, repr=False)

    def _validate(self, nn: FloatArray, ee: FloatArray, w: FloatArray, problems: Problems) -> None:
        _check_n_star(self.n_star, "GammaMixturePriorFitter", problems)
        if not self.starts:
            problems.add("The 'starts' parameter of GammaMixturePriorFitter needs at least one start. Got none.")
        for start in self.starts:
            if len(start) != 5 or not all(np.isfinite(v) and v > 0 for v in start) or not start[4] < 1:
                problems.add(
                    "Each start of GammaMixturePriorFitter must be (alpha1, beta1, alpha2, beta2, P) with positive "
                    f"values and P < 1. Got {start!r}."
                )
        if len(nn) == 0:
            problems.add("GammaMixturePriorFitter.fit needs at least one (N, E) pair. Got none.")
        elif len(nn) != len(ee) or len(nn) != len(w):
            problems.add(f"n, e and weights must have the same length. Got {len(nn)}, {len(ee)}, {len(w)}.")
        elif (ee <= 0).any():
            problems.add("Every expected count E must be positive. Got a value <= 0.")
        if self.truncated and len(nn) and (nn < self.n_star).any():
            problems.add(
                f"With truncated=True every observed count N must be >= n_star = {self.n_star}. Got a smaller one."
            )

    def fit(self, n: Any, e: Any, weights: Any = None) -> GammaMixturePriorFitter:
        problems = Problems()
        nn = as_float_array(n, "n", "GammaMixturePriorFitter.fit", problems)
        ee = as_float_array(e, "e", "GammaMixturePriorFitter.fit", problems)
        w = (
            np.ones_like(nn)
            if weights is None
            else as_float_array(weights, "weights", "GammaMixturePriorFitter.fit", problems)
        )
        self._validate(nn, ee, w, problems)
        problems.raise_if_any()
        from scipy.optimize import minimize  # imported here: it costs 0.3 s at start-up

        pts = _Points.build(nn, ee, w)
        n_star = self.n_star if self.truncated else 0

        def objective(x: FloatArray) -> tuple[float, FloatArray]:
            theta = np.concatenate([np.exp(x[:4]), [expit(x[4])]])
            with np.errstate(divide="ignore", over="ignore", invalid="ignore", under="ignore"):
                value, grad = _negll_and_grad(theta, pts, n_star)
            if not (np.isfinite(value) and np.isfinite(grad).all()):
                return 1e300, np.zeros(5)
            return value, grad * np.concatenate([theta[:4], [theta[4] * (1 - theta[4])]])

        def optimise(start: tuple[float, float, float, float, float]) -> tuple[FloatArray, dict[str, Any]]:
            x0 = np.concatenate([np.log(start[:4]), [logit(start[4])]])
            res = minimize(
                objective,
                x0,
                jac=True,
                method="L-BFGS-B",
                bounds=[(-12, 12)] * 4 + [(-15, 15)],
                options={"maxiter": self.max_iter, "gtol": 1e-9, "ftol": 1e-15},
            )
            # L-BFGS-B may stop on a line-search failure at a stationary point; accept that
            # when the gradient is negligible against the objective.
            grad_max = float(np.abs(res.jac).max()) if res.jac is not None else float("inf")
            converged = bool(res.fun < 1e300) and (
                bool(res.success) or grad_max <= 1e-3 * max(1.0, abs(float(res.fun)))
            )
            theta = _natural(res.x)
            return theta, {
                "start": list(start),
                "estimate": dict(zip(("alpha1", "beta1", "alpha2", "beta2", "p"), map(float, theta), strict=True)),
                "neg_log_likelihood": float(res.fun),
                "converged": converged,
                "in_bounds": _in_bounds(theta),
                "max_gradient": grad_max,
                "iterations": int(res.nit),
                "message": str(res.message),
            }

        # Every start is optimised, as autoHyper does; the starts are independent, so they run
        # in parallel threads (NumPy and SciPy release the GIL in their array loops). BLAS runs
        # single-threaded meanwhile: L-BFGS-B's calls on five parameters woke OpenBLAS's threads,
        # which spun between calls, more than doubling the fit's CPU time (issue 17).
        workers = max(1, min(len(self.starts), os.cpu_count() or 1))
        with (
            _BLAS_LIMIT,
            threadpool_limits(limits=1, user_api="blas"),
            ThreadPoolExecutor(max_workers=workers) as threads,
        ):
            done = list(threads.map(optimise, self.starts))
        solutions = [theta for theta, _ in done]
        reports = [report for _, report in done]
        usable = [i for i, r in enumerate(reports) if r["converged"] and r["in_bounds"]]
        pool = usable or [i for i, r in enumerate(reports) if r["converged"]]
        if not pool:
            raise ConvergenceError(
                "The gamma-mixture prior fit did not converge from any starting point. "
                "Check that the counts are not degenerate (very few pairs, all N equal), try "
                "data squashing off, or pass other starts."
            )
        best = min(pool, key=lambda i: reports[i]["neg_log_likelihood"])
        tol = np.asarray(self.close_tolerance)
        close = [
            i for i in range(len(reports)) if i != best and bool(np.all(np.abs(solutions[i] - solutions[best]) < tol))
        ]
        consistent = bool(usable) and len(close) >= 1
        if not consistent:
            why = (
                "no start reached a solution with every parameter in (0, 100) and 0 < P < 1"
                if not usable
                else "no other start reached a solution close to the best one"
            )
            warnings.warn(
                f"The gamma-mixture prior fit is not consistent across starts: {why} (see the convergence "
                "report). Check the fit before relying on EBGM; try other starts or data squashing.",
                StatisticalCaveatWarning,
                stacklevel=2,
            )
        try:
            self.prior_ = GammaMixturePrior(*(float(v) for v in solutions[best]))
        except ValidationError as exc:  # a boundary solution: P at 0 or 1
            raise ConvergenceError(
                f"The fitted prior lies on the boundary ({exc}); the data do not support two "
                "components. Check the count distribution."
            ) from exc
        self.log_likelihood_ = -float(reports[best]["neg_log_likelihood"])
        self.convergence_ = {
            "optimizer": "L-BFGS-B",
            "likelihood": f"openEBGM negLLsquash, N* = {self.n_star}" if self.truncated else "openEBGM negLLzeroSquash",
            "n_points": len(nn),
            "total_weight": float(w.sum()),
            "truncated": self.truncated,
            "n_star": self.n_star,
            "n_starts_tried": len(reports),
            "n_converged": sum(r["converged"] for r in reports),
            "accepted_start": best,
            "num_close": len(close),
            "consistent": consistent,
            "close_tolerance": list(self.close_tolerance),
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


def _mixture_terms(
    x: FloatArray,
    w1: FloatArray,
    s1: FloatArray,
    r1: FloatArray,
    c1: FloatArray,
    s2: FloatArray,
    r2: FloatArray,
    c2: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """CDF of w1*Gamma(s1, r1) + (1-w1)*Gamma(s2, r2) at x (c = log normaliser) and its first
    three derivatives: the density and the density's first and second derivatives. A component
    of weight 0 is not evaluated."""
    cdf = np.zeros_like(x)
    pdf = np.zeros_like(x)
    d_pdf = np.zeros_like(x)
    d2_pdf = np.zeros_like(x)
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        lx = np.log(x)
        for weight, s_k, r_k, c_k in ((w1, s1, r1, c1), (1.0 - w1, s2, r2, c2)):
            use = weight > 0.0
            every = bool(use.all())
            if every:
                x_k, lx_k = x, lx
            elif use.any():
                x_k, lx_k, weight, s_k, r_k, c_k = x[use], lx[use], weight[use], s_k[use], r_k[use], c_k[use]
            else:
                continue
            pdf_k = weight * np.exp(c_k + (s_k - 1.0) * lx_k - r_k * x_k)
            u = (s_k - 1.0) / x_k - r_k  # d log pdf / dx
            terms = (
                weight * gammainc(s_k, r_k * x_k),
                pdf_k,
                pdf_k * u,
                pdf_k * (u * u - (s_k - 1.0) / (x_k * x_k)),
            )
            for total, term in zip((cdf, pdf, d_pdf, d2_pdf), terms, strict=True):
                if every:
                    total += term
                else:
                    total[use] += term
    return cdf, pdf, d_pdf, d2_pdf


def _mixture_quantile(
    prob: float, q: FloatArray, s1: FloatArray, r1: FloatArray, s2: FloatArray, r2: FloatArray
) -> FloatArray:
    """Quantile of q*Gamma(s1, r1) + (1-q)*Gamma(s2, r2).

    A component whose weight is below 1e-13 changes the quantile by less than double-precision
    noise and is dropped. The iteration starts at the dominant component's quantile
    (Wilson-Hilferty approximation; the exact inverse for shapes below 1) and keeps a bracket
    [lo, hi] of the root, open at first (F(0) = 0, F(inf) = 1). Near the root (a Newton step
    below 1 % of x) it takes Halley's step, whose error is about |f3 / (6 f1) - f2^2 / (4 f1^2)|
    |F / f1|^3 (f1, f2, f3: the first three derivatives of F): a point stops when that is below
    1e-16 x, after one evaluation for most points where Newton's method needed two or three.
    Elsewhere it takes Newton's step; a step that leaves the bracket, as happens on the flat
    stretch between two separated components, is replaced by the Illinois (modified regula
    falsi) step, or by doubling while no upper end is known. Iteration also stops at a relative
    change of 1e-12 or a bracket narrower than 1e-13 x. The points still iterating are kept
    together (compacted as points finish), so that each pass costs only what is left to do.
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
    xs = guess / r_d
    out = np.empty_like(xs)
    where = np.arange(len(xs))  # the points still iterating, and their state:
    lo = np.zeros_like(xs)
    hi = np.full_like(xs, np.inf)
    f_lo = np.full_like(xs, -prob)
    f_hi = np.full_like(xs, 1.0 - prob)
    side = np.zeros_like(xs)
    params = [w1, s1, r1, c1, s2, r2, c2]
    for _ in range(100):
        cdf, pdf, d_pdf, d2_pdf = _mixture_terms(xs, *params)
        f = cdf - prob
        below = f < 0
        # Illinois: when the same end of the bracket moves twice, halve the other end's value.
        same = np.where(below, side < 0, side > 0)
        lo = np.where(below, xs, lo)
        f_lo = np.where(below, f, np.where(same, 0.5 * f_lo, f_lo))
        hi = np.where(~below, xs, hi)
        f_hi = np.where(~below, f, np.where(same, 0.5 * f_hi, f_hi))
        side = np.where(below, -1.0, 1.0)
        bounded = np.isfinite(hi)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = f / pdf  # Newton's
            denom = 2.0 * pdf * pdf - f * d_pdf
            halley = xs - 2.0 * f * pdf / denom
            use_halley = (np.abs(step) <= 1e-2 * xs) & (denom > 0) & (halley > lo) & (halley < hi)
            new = np.where(use_halley, halley, xs - step)
            curvature = d_pdf / pdf
            error = np.abs(0.25 * curvature * curvature - d2_pdf / (6.0 * pdf)) * np.abs(step) ** 3
            settled = use_halley & (np.abs(step) <= 1e-3 * xs) & (error <= 1e-16 * np.abs(halley))
            secant = lo - f_lo * (hi - lo) / (f_hi - f_lo)
            # np.where evaluates both branches: the doubling of an element with an upper end
            # known may overflow, and is not used.
            fallback = np.where(bounded, np.where(np.isfinite(secant), secant, 0.5 * (lo + hi)), 2.0 * xs)
        outside = ~np.isfinite(new) | (new <= lo) | (new >= hi)
        new = np.where(outside, fallback, new)
        new = np.where(f == 0, xs, new)
        closed = bounded & (hi - lo <= 1e-13 * hi)
        going = (np.abs(new - xs) > 1e-12 * np.abs(xs)) & ~closed & (f != 0) & ~settled
        if going.all():
            xs = new
            continue
        done = ~going
        out[where[done]] = new[done]
        if not going.any():
            return out
        where, xs, lo, hi, f_lo, f_hi, side = (v[going] for v in (where, new, lo, hi, f_lo, f_hi, side))
        params = [v[going] for v in params]
    out[where] = xs
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
    if len(nn) >= _PARALLEL_ABOVE:  # the two quantiles in two threads (the loops release the GIL)
        with ThreadPoolExecutor(max_workers=2) as pool:
            lower, upper = pool.map(lambda prob: _mixture_quantile(prob, q, s1, r1, s2, r2), quantiles)
    else:
        lower, upper = (_mixture_quantile(prob, q, s1, r1, s2, r2) for prob in quantiles)
    return EBGMResult(
        ebgm=np.exp(log_gm),
        lower=lower,
        upper=upper,
        q1=q,
        quantiles=quantiles,
    )
