"""Exact MaxSPRT: the maximized sequential probability ratio test for safety surveillance.

Kulldorff M, Davis RL, Kolczak M, Lewis E, Lieu T, Platt R. A maximized sequential probability
ratio test for drug and vaccine safety surveillance. Sequential Analysis 2011;30:58-78; minimum
events to signal: Kulldorff M, Silva IR, REVSTAT 2015;15:373-394; alpha spending: Silva IR,
Methodol Comput Appl Probab 2018;20:739-750. The method follows the R package ``Sequential``
(Silva and Kulldorff); the code is written anew.

Time is information time. **Poisson**: the expected count of events under H0 (``expected``),
observed count ``k``; LLR = (mu - k) + k log(k / mu) when k > mu, else 0. **Binomial** (a matched
design with ``z`` controls per case, p0 = 1 / (1 + z)): after ``n`` events of which ``k`` are
cases, LLR = k log(k / (n p0)) + (n - k) log((n - k) / (n (1 - p0))) when k / n > p0, else 0.
Both are one-sided (H0: RR <= 1, the safety question).

Critical values are exact: the alpha level of a boundary is computed as the absorption
probability of the count process (a Markov chain over the counts that have not yet signalled),
not simulated. For continuous Poisson surveillance the boundary for ``k`` events is the
expected count ``mu_k`` at which LLR(mu_k, k) = cv (a Lambert-W solution), and the chain steps
from one ``mu_k`` to the next. For group sequential and binomial designs the alpha level is a
step function of cv; the critical value returned is the smallest attainable LLR that keeps the
alpha level at or below the requested one (any cv in ``(cv_lower, cv]`` is the same test).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from scipy.special import bdtrc, gammaln, lambertw, pdtrc, xlog1py, xlogy

from cgtvigil._validation import Problems, check_interval, param_message
from cgtvigil.errors import ValidationError
from cgtvigil.signals._table import FloatArray, result_to_arrow

__all__ = [
    "MaxSPRTBoundary",
    "MaxSPRTPerformance",
    "SequentialTestResult",
    "binomial_llr",
    "maxsprt_alpha_spending",
    "maxsprt_binomial_cv",
    "maxsprt_performance",
    "maxsprt_poisson_cv",
    "poisson_llr",
    "sequential_test",
]

IntArray = npt.NDArray[np.int64]
Model = Literal["poisson", "binomial"]
_TOL = 1e-11  # bisection width on the continuous-Poisson cv
# Bounded work (a critical value at the cap takes ~15 s): Sequential advises lengths up to 1000.
MAX_POISSON_LENGTH = 2000.0
MAX_BINOMIAL_EVENTS = 2000
MAX_LOOKS = 1000


def poisson_llr(observed: Any, expected: Any) -> FloatArray:
    """One-sided Poisson MaxSPRT log-likelihood ratio.

    Examples
    --------
    >>> [round(float(x), 4) for x in poisson_llr([0, 2, 6], [1.0, 2.0, 2.0])]
    [0.0, 0.0, 2.5917]
    """
    k = np.asarray(observed, dtype=np.float64)
    mu = np.asarray(expected, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        llr = mu - k + xlogy(k, k / mu)
    return np.where(k > mu, llr, 0.0)


def binomial_llr(cases: Any, events: Any, *, z: float) -> FloatArray:
    """One-sided binomial MaxSPRT log-likelihood ratio with matching ratio ``z``.

    Examples
    --------
    >>> [round(float(x), 4) for x in binomial_llr([10, 5], [10, 10], z=1.0)]
    [6.9315, 0.0]
    """
    k = np.asarray(cases, dtype=np.float64)
    n = np.asarray(events, dtype=np.float64)
    p0 = 1.0 / (1.0 + z)
    with np.errstate(divide="ignore", invalid="ignore"):
        llr = xlogy(k, k / (n * p0)) + xlogy(n - k, (n - k) / (n * (1.0 - p0)))
    return np.where(k > n * p0, llr, 0.0)


@dataclass(frozen=True)
class MaxSPRTBoundary:
    """A MaxSPRT design: where it looks, how many events signal there, and its exact alpha.

    ``looks`` are information times (expected counts under H0 for Poisson, events for binomial);
    a signal at look ``i`` needs ``thresholds[i]`` observed events (cases). For continuous Poisson
    the looks are the boundary times ``mu_k`` (with the first look at ``delay`` when it is > 0 and
    the last at the surveillance length): ``k`` events reached by ``mu_k`` signal.
    ``spent[i]`` is the exact cumulative alpha after look ``i``.
    """

    model: str
    continuous: bool
    cv: float
    cv_lower: float
    alpha: float
    attained_alpha: float
    surveillance_length: float
    minimum_events: int
    delay: float
    z: float
    looks: FloatArray
    thresholds: IntArray
    spent: FloatArray
    spending: str = "flat"
    arrival_signal: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def to_arrow(self) -> pa.Table:
        return result_to_arrow({"look": self.looks, "threshold": self.thresholds, "cumulative_alpha": self.spent})


@dataclass(frozen=True)
class MaxSPRTPerformance:
    """Power, expected time to signal (given a signal) and expected length of surveillance."""

    rr: FloatArray
    power: FloatArray
    expected_signal_time: FloatArray
    expected_length: FloatArray

    def to_arrow(self) -> pa.Table:
        return result_to_arrow(
            {
                "rr": self.rr,
                "power": self.power,
                "expected_signal_time": self.expected_signal_time,
                "expected_length": self.expected_length,
            }
        )


@dataclass(frozen=True)
class SequentialTestResult:
    """The LLR path of an analysis against its boundary, and where it first crossed.

    ``ended`` is True once surveillance is over: a signal, or an analysis that reached the
    surveillance length."""

    observed: FloatArray
    expected: FloatArray
    llr: FloatArray
    critical: FloatArray
    signalled: bool
    signal_index: int | None
    ended: bool

    def to_arrow(self) -> pa.Table:
        return result_to_arrow(
            {"observed": self.observed, "expected": self.expected, "llr": self.llr, "critical": self.critical}
        )


# ---------------------------------------------------------------------------------------------
# The exact chain
# ---------------------------------------------------------------------------------------------

Step = Callable[[int, int], tuple[FloatArray, FloatArray]]
"""``step(i, length)`` -> (pmf of the increment over 0..length-1, survival P(X > m) over the same m)."""


def _chain(
    looks: FloatArray, thresholds: IntArray, step: Step, arrival: npt.NDArray[np.bool_] | None, rate: float
) -> tuple[FloatArray, FloatArray]:
    """Probability of signalling at each look, and E[signal time; signal at that look].

    A signal at a look marked in ``arrival`` happens at the arrival of the threshold-th event
    inside the interval (continuous Poisson), elsewhere at the look itself.
    """
    q: FloatArray = np.array([1.0])  # P(count = j and no signal yet)
    prob = np.zeros(len(looks))
    etime = np.zeros(len(looks))
    previous = 0.0
    for i, r in enumerate(thresholds.tolist()):
        r = max(int(r), 0)
        instant = float(q[r:].sum())  # states already at or above a lowered threshold
        q = q[:r]
        pmf, sf = step(i, r + 1)
        hit = float(np.dot(q, sf[r - 1 - np.arange(len(q))])) if len(q) else 0.0
        prob[i] = instant + hit
        if arrival is not None and arrival[i] and len(q):
            j = np.arange(len(q))
            # E[G 1{G <= dt}] for G ~ Gamma(r - j, rate) = (r - j)/rate * P(Gamma(r - j + 1) <= dt)
            etime[i] = previous * hit + float(np.dot(q * (r - j) / rate, sf[r - j]))
            etime[i] += looks[i] * instant
        else:
            etime[i] = looks[i] * prob[i]
        support = np.flatnonzero(pmf[:r] > 0.0)  # the increment's reachable counts only
        q = np.convolve(q, pmf[: support[-1] + 1])[:r] if len(q) and len(support) else q[:0]
        previous = float(looks[i])
    return prob, etime


def _poisson_tail_cap(mu: float) -> int:
    """A count beyond which a Poisson(mu) increment has no mass in double precision."""
    return int(mu + 12.0 * np.sqrt(mu) + 40.0)


def _poisson_step(looks: FloatArray, rate: float) -> Step:
    gaps = np.diff(np.concatenate([[0.0], looks])) * rate

    def step(i: int, length: int) -> tuple[FloatArray, FloatArray]:
        m = np.arange(length + 1, dtype=np.float64)
        mu = gaps[i]
        pmf = np.exp(xlogy(m[:-1], mu) - mu - gammaln(m[:-1] + 1.0))
        return pmf, pdtrc(m, mu)

    return step


def _binomial_step(looks: FloatArray, ps: float) -> Step:
    sizes = np.diff(np.concatenate([[0.0], looks])).astype(np.int64)

    def step(i: int, length: int) -> tuple[FloatArray, FloatArray]:
        m = np.arange(length + 1, dtype=np.float64)
        n = float(sizes[i])
        k = m[:-1]
        inside = k <= n
        kk = np.where(inside, k, 0.0)
        logpmf = gammaln(n + 1) - gammaln(kk + 1) - gammaln(n - kk + 1) + xlogy(kk, ps) + xlog1py(n - kk, -ps)
        pmf = np.where(inside, np.exp(logpmf), 0.0)
        sf = np.where(m < n, bdtrc(np.minimum(m, n).astype(np.int64), int(n), ps), 0.0)
        return pmf, sf

    return step


# ---------------------------------------------------------------------------------------------
# Boundaries
# ---------------------------------------------------------------------------------------------


def _continuous_poisson_looks(
    cv: float, length: float, minimum: int, delay: float
) -> tuple[FloatArray, IntArray, npt.NDArray[np.bool_]]:
    """Boundary times mu_k (LLR(mu_k, k) = cv) between ``delay`` and ``length``."""
    kmax = int(length + 10.0 * np.sqrt(length) + 10.0 * (cv + 1.0) + 10)
    k = np.arange(1, kmax + 1, dtype=np.float64)
    mu = -k * lambertw(-np.exp(-1.0 - cv / k), 0).real
    while mu[-1] < length:  # extend for a large cv
        k = np.arange(1, 2 * len(k) + 1, dtype=np.float64)
        mu = -k * lambertw(-np.exp(-1.0 - cv / k), 0).real
    ks = k.astype(np.int64)
    eligible = ks >= minimum
    first = int(np.argmax(eligible & (mu >= delay)))  # first k that can still signal at or after delay
    last = int(np.argmax(mu >= length))  # first k whose boundary reaches the end
    looks: list[float] = []
    thr: list[int] = []
    arrival: list[bool] = []
    if delay > 0:
        looks.append(delay)
        thr.append(int(ks[first]))
        arrival.append(False)
    for idx in range(first, last):
        if mu[idx] > delay:
            looks.append(float(mu[idx]))
            thr.append(int(ks[idx]))
            arrival.append(True)
    if not looks or looks[-1] < length:
        looks.append(length)
        thr.append(int(ks[max(last, first)]))
        arrival.append(True)
    return np.array(looks), np.array(thr, dtype=np.int64), np.array(arrival)


def _row_thresholds(llr_rows: list[FloatArray], cv: float, minimum: int) -> IntArray:
    """Smallest count at each look whose LLR reaches cv (rows are non-decreasing in the count)."""
    out = [max(int(np.searchsorted(row, cv - 1e-12, side="left")), minimum) for row in llr_rows]
    return np.array(out, dtype=np.int64)


def _check_common(owner: str, alpha: float, minimum: int, problems: Problems) -> None:
    check_interval(alpha, "alpha", owner, 0.0, 0.5 + 1e-12, problems)
    if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 1:
        problems.add(param_message("minimum_events", owner, "an integer >= 1", minimum))


def _group_looks(group_sizes: Any, length: float, owner: str, integer: bool, problems: Problems) -> FloatArray:
    try:
        sizes = np.asarray(group_sizes, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        problems.add(param_message("group_sizes", owner, "a sequence of positive numbers", group_sizes))
        return np.zeros(0)
    if len(sizes) > MAX_LOOKS:
        problems.add(param_message("group_sizes", owner, f"at most {MAX_LOOKS} looks", f"{len(sizes)} looks"))
        return np.zeros(0)
    if len(sizes) == 0 or not np.all(np.isfinite(sizes)) or np.any(sizes <= 0):
        problems.add(param_message("group_sizes", owner, "a non-empty sequence of positive sizes", sizes.tolist()))
        return sizes
    if integer and np.any(sizes != np.round(sizes)):
        problems.add(param_message("group_sizes", owner, "whole numbers of events", sizes.tolist()))
    if abs(float(sizes.sum()) - length) > 1e-9 * max(1.0, length):
        problems.add(
            f"The 'group_sizes' parameter of {owner} must add up to the surveillance length "
            f"{length!r}. Got a sum of {float(sizes.sum())!r}."
        )
    return np.cumsum(sizes)


def _smallest_passing(candidates: FloatArray, alpha_of: Callable[[float], float], target: float) -> tuple[int, float]:
    """Index of the smallest candidate cv whose alpha is <= target, and that alpha."""
    lo, hi = -1, len(candidates) - 1
    best = alpha_of(float(candidates[hi]))
    if best > target:
        return -1, best
    while hi - lo > 1:
        mid = (lo + hi) // 2
        a = alpha_of(float(candidates[mid]))
        if a <= target:
            hi, best = mid, a
        else:
            lo = mid
    return hi, best


def maxsprt_poisson_cv(
    surveillance_length: float,
    *,
    alpha: float = 0.05,
    minimum_events: int = 1,
    delay: float = 0.0,
    group_sizes: Any = None,
) -> MaxSPRTBoundary:
    """Exact critical value of the Poisson MaxSPRT (R ``Sequential::CV.Poisson``).

    Parameters
    ----------
    surveillance_length : float
        Upper limit on the length of surveillance, in expected events under H0 (``SampleSize``).
    alpha : float
        Significance level, in (0, 0.5].
    minimum_events : int
        Events needed before H0 may be rejected (``M``; 4 is the rule of thumb of Kulldorff and
        Silva 2015).
    delay : float
        Expected events under H0 at the first look (``D``), continuous design only.
    group_sizes : sequence of float, optional
        Expected events under H0 between looks (group sequential); they add up to the length.

    Examples
    --------
    >>> round(maxsprt_poisson_cv(10.0).cv, 6)  # Sequential's documented CV.Poisson(SampleSize=10)
    3.467952
    """
    owner = "maxsprt_poisson_cv"
    problems = Problems()
    check_interval(surveillance_length, "surveillance_length", owner, 0.0, MAX_POISSON_LENGTH + 1e-9, problems)
    _check_common(owner, alpha, minimum_events, problems)
    if not isinstance(delay, int | float) or isinstance(delay, bool) or not 0.0 <= delay <= surveillance_length:
        problems.add(param_message("delay", owner, "a number in [0, surveillance_length]", delay))
    group = group_sizes is not None
    if group and delay:
        problems.add(
            "The 'delay' parameter of maxsprt_poisson_cv applies to continuous designs; "
            "with 'group_sizes' the first group is the delay."
        )
    looks = _group_looks(group_sizes, surveillance_length, owner, False, problems) if group else np.zeros(0)
    problems.raise_if_any()
    length = float(surveillance_length)
    reachable = float(pdtrc(minimum_events - 1, length))
    if reachable < alpha:
        raise ValidationError(
            [
                f"The MaxSPRT of maxsprt_poisson_cv cannot reach alpha={alpha!r}: even with no boundary the chance "
                f"of {minimum_events} events by {length!r} expected is {reachable:.4g}. Lengthen the surveillance "
                "or lower 'minimum_events'."
            ]
        )
    one = _poisson_step
    if group:
        rows = [poisson_llr(np.arange(int(t + 20 * np.sqrt(t) + 60)), t) for t in looks]
        candidates = np.unique(np.concatenate(rows))
        candidates = candidates[candidates > 0]

        def alpha_of(cv: float) -> float:
            thr = _row_thresholds(rows, cv, minimum_events)
            return float(_chain(looks, thr, one(looks, 1.0), None, 1.0)[0].sum())

        idx, attained = _smallest_passing(candidates, alpha_of, alpha)
        cv = float(candidates[idx])
        lower = float(candidates[idx - 1]) if idx > 0 else 0.0
        thr = _row_thresholds(rows, cv, minimum_events)
        prob = _chain(looks, thr, one(looks, 1.0), None, 1.0)[0]
        return MaxSPRTBoundary(
            "poisson", False, cv, lower, alpha, attained, length, minimum_events, 0.0, float("nan"),
            looks, thr, np.cumsum(prob), arrival_signal=np.zeros(len(looks), dtype=bool),
        )  # fmt: skip

    def alpha_at(cv: float) -> float:
        lk, thr, arr = _continuous_poisson_looks(cv, length, minimum_events, float(delay))
        return float(_chain(lk, thr, one(lk, 1.0), arr, 1.0)[0].sum())

    lo, hi = 0.0, 4.0
    while alpha_at(hi) > alpha:
        lo, hi = hi, hi * 2.0
    # alpha(cv) is continuous except for the jumps of a delayed first look or the last look: a
    # bracketing root finder lands on the root or the jump; then step to the side with alpha <= target.
    from scipy.optimize import brentq  # imported here: scipy.optimize costs 0.3 s at start-up

    root = brentq(lambda c: alpha_at(c) - alpha, lo, hi, xtol=_TOL, rtol=4 * np.finfo(float).eps)
    hi, lo = float(root), float(root) - _TOL
    a_hi = alpha_at(hi)
    while a_hi > alpha:
        lo, hi = hi, hi + _TOL
        a_hi = alpha_at(hi)
    lk, thr, arr = _continuous_poisson_looks(hi, length, minimum_events, float(delay))
    prob = _chain(lk, thr, one(lk, 1.0), arr, 1.0)[0]
    return MaxSPRTBoundary(
        "poisson", True, hi, lo, alpha, a_hi, length, minimum_events, float(delay), float("nan"),
        lk, thr, np.cumsum(prob), arrival_signal=arr,
    )  # fmt: skip


def _binomial_z(z: float | None, p: float | None, owner: str, problems: Problems) -> float:
    if (z is None) == (p is None):
        problems.add(
            f"The 'z' and 'p' parameters of {owner}: give exactly one (p = 1 / (1 + z)). Got z={z!r}, p={p!r}."
        )
        return 1.0
    if z is not None:
        check_interval(z, "z", owner, 0.0, np.inf, problems)
        return float(z)
    if p is None:  # unreachable: exactly one of z, p was given
        return 1.0
    check_interval(p, "p", owner, 0.0, 1.0, problems)
    return 1.0 / float(p) - 1.0 if isinstance(p, int | float) and 0 < p < 1 else 1.0


def _binomial_looks(length: int, group_sizes: Any, owner: str, problems: Problems) -> FloatArray:
    if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= MAX_BINOMIAL_EVENTS:
        problems.add(
            param_message(
                "surveillance_length", owner, f"an integer number of events in [1, {MAX_BINOMIAL_EVENTS}]", length
            )
        )
        return np.zeros(0)
    if group_sizes is None:
        return np.arange(1, length + 1, dtype=np.float64)
    return _group_looks(group_sizes, float(length), owner, True, problems)


def maxsprt_binomial_cv(
    surveillance_length: int,
    *,
    z: float | None = None,
    p: float | None = None,
    alpha: float = 0.05,
    minimum_events: int = 1,
    group_sizes: Any = None,
) -> MaxSPRTBoundary:
    """Exact critical value of the binomial MaxSPRT (R ``Sequential::CV.Binomial``).

    ``surveillance_length`` is the maximum number of events (cases plus controls, ``N``);
    ``z`` the matching ratio (controls per case) or ``p`` = 1 / (1 + z) the probability that an
    event is a case under H0; ``minimum_events`` the cases needed to signal (``M``).

    Examples
    --------
    >>> b = maxsprt_binomial_cv(20, z=1.1, minimum_events=3)  # Sequential's documented example
    >>> round(b.attained_alpha, 6)
    0.045113
    """
    owner = "maxsprt_binomial_cv"
    problems = Problems()
    zz = _binomial_z(z, p, owner, problems)
    _check_common(owner, alpha, minimum_events, problems)
    looks = _binomial_looks(surveillance_length, group_sizes, owner, problems)
    problems.raise_if_any()
    p0 = 1.0 / (1.0 + zz)
    reachable = float(bdtrc(minimum_events - 1, int(surveillance_length), p0))
    if reachable < alpha:
        raise ValidationError(
            [
                f"The MaxSPRT of {owner} cannot reach alpha={alpha!r}: even with no boundary the chance of "
                f"{minimum_events} cases in {surveillance_length} events is {reachable:.4g}. Lengthen the "
                "surveillance or lower 'minimum_events'."
            ]
        )
    rows = [binomial_llr(np.arange(int(n) + 1), n, z=zz) for n in looks]
    candidates = np.unique(np.concatenate(rows))
    candidates = candidates[candidates > 0]
    step = _binomial_step(looks, p0)

    def alpha_of(cv: float) -> float:
        return float(_chain(looks, _row_thresholds(rows, cv, minimum_events), step, None, 1.0)[0].sum())

    idx, attained = _smallest_passing(candidates, alpha_of, alpha)
    if idx < 0:
        raise ValidationError(
            [f"The MaxSPRT of {owner} has no boundary with alpha <= {alpha!r} in {surveillance_length} events (the "
             f"smallest attainable is {attained:.4g}). Lengthen the surveillance."]
        )  # fmt: skip
    cv = float(candidates[idx])
    thr = _row_thresholds(rows, cv, minimum_events)
    prob = _chain(looks, thr, step, None, 1.0)[0]
    return MaxSPRTBoundary(
        "binomial", group_sizes is None, cv, float(candidates[idx - 1]) if idx > 0 else 0.0, alpha, attained,
        float(surveillance_length), minimum_events, 0.0, zz, looks, thr, np.cumsum(prob),
        arrival_signal=np.zeros(len(looks), dtype=bool),
    )  # fmt: skip


def maxsprt_alpha_spending(
    model: Model,
    surveillance_length: float,
    looks: Any,
    *,
    alpha: float = 0.05,
    rho: float = 0.5,
    spend: Any = None,
    minimum_events: int = 1,
    z: float | None = None,
) -> MaxSPRTBoundary:
    """Signalling thresholds at each look from an alpha-spending function (exact, conservative).

    At look ``i`` the threshold is the smallest count (>= ``minimum_events``) whose exact
    cumulative alpha stays at or below ``alpha * (t_i / T) ** rho`` (the power-type function
    of Sequential's ``AlphaSpend=1``), or at or below ``spend[i]`` when a cumulative spending
    vector is given. ``looks`` are the cumulative information times of the looks (expected
    counts under H0, or events for binomial); each threshold depends only on earlier looks, so
    the looks actually taken can be passed as they happen.

    Examples
    --------
    >>> b = maxsprt_alpha_spending("binomial", 50, [15, 30, 40, 50], z=1.0, rho=0.5)
    >>> b.thresholds.tolist()  # Sequential's Performance.AlphaSpend.Binomial gives 12 21 27 33
    [12, 21, 27, 33]
    """
    owner = "maxsprt_alpha_spending"
    problems = Problems()
    if model not in ("poisson", "binomial"):
        problems.add(param_message("model", owner, "'poisson' or 'binomial'", model))
    check_interval(surveillance_length, "surveillance_length", owner, 0.0, np.inf, problems)
    _check_common(owner, alpha, minimum_events, problems)
    max_length = MAX_POISSON_LENGTH if model == "poisson" else float(MAX_BINOMIAL_EVENTS)
    if isinstance(surveillance_length, int | float) and surveillance_length > max_length:
        problems.add(
            param_message(
                "surveillance_length", owner, f"at most {max_length:g} for the {model} model", surveillance_length
            )
        )
    try:
        t = np.asarray(looks, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        t = np.array([np.nan])
    shown = f"{len(t)} looks from {float(t[0])!r} to {float(t[-1])!r}" if len(t) > 10 else t.tolist()
    if (
        len(t) == 0
        or len(t) > MAX_LOOKS
        or not np.all(np.isfinite(t))
        or np.any(np.diff(np.concatenate([[0.0], t])) <= 0)
    ):
        problems.add(param_message("looks", owner, f"1 to {MAX_LOOKS} increasing positive information times", shown))
    elif t[-1] > surveillance_length * (1 + 1e-12):
        problems.add(param_message("looks", owner, f"at most the surveillance length {surveillance_length!r}", shown))
    if model == "binomial" and len(t) and np.any(t != np.round(t)):
        problems.add(param_message("looks", owner, "whole numbers of events for the binomial model", shown))
    if spend is None:
        check_interval(rho, "rho", owner, 0.0, np.inf, problems)
        target = alpha * np.minimum(t / surveillance_length, 1.0) ** rho if len(t) else t
        label = f"power rho={rho:g}"
    else:
        target = np.asarray(spend, dtype=np.float64).ravel()
        if len(target) != len(t) or np.any(np.diff(target) < 0) or np.any(target < 0) or np.any(target > alpha + 1e-15):
            problems.add(
                param_message("spend", owner, "a non-decreasing cumulative alpha per look, at most alpha", shown)
            )
        label = "user"
    zz = 1.0 if model == "poisson" else _binomial_z(z, None, owner, problems)
    problems.raise_if_any()
    step = _poisson_step(t, 1.0) if model == "poisson" else _binomial_step(t, 1.0 / (1.0 + zz))
    q: FloatArray = np.array([1.0])
    spent = 0.0
    thr: list[int] = []
    cum: list[float] = []
    for i in range(len(t)):
        gap = t[i] - (t[i - 1] if i else 0.0)
        inc = int(gap + 0.5) + 1 if model == "binomial" else _poisson_tail_cap(gap)
        pmf, _ = step(i, inc)
        full = np.convolve(q, pmf)  # the counts reachable by this look
        tail = np.concatenate([np.cumsum(full[::-1])[::-1], [0.0]])  # tail[r] = P(count >= r)
        allowed = float(target[i]) - spent
        within = tail[minimum_events:] <= allowed * (1 + 1e-12) + 1e-300
        r = minimum_events + int(np.argmax(within)) if within.any() else len(tail) - 1
        spent += float(tail[r])
        thr.append(r)
        cum.append(spent)
        q = full[:r]
    return MaxSPRTBoundary(
        model, False, float("nan"), float("nan"), alpha, spent, float(surveillance_length), minimum_events, 0.0,
        zz if model == "binomial" else float("nan"), t, np.array(thr, dtype=np.int64), np.array(cum), label,
        np.zeros(len(t), dtype=bool),
    )  # fmt: skip


def maxsprt_performance(boundary: MaxSPRTBoundary, rr: Any) -> MaxSPRTPerformance:
    """Exact power, expected time to signal and expected length of surveillance at each ``rr``
    (R ``Sequential::Performance.Poisson`` / ``Performance.Binomial``).

    Examples
    --------
    >>> perf = maxsprt_performance(maxsprt_poisson_cv(10.0), [2.0])  # Sequential's documented example
    >>> [round(float(x[0]), 4) for x in (perf.power, perf.expected_signal_time, perf.expected_length)]
    [0.6851, 4.131, 5.9794]
    """
    rrs = np.atleast_1d(np.asarray(rr, dtype=np.float64))
    if rrs.ndim != 1 or not np.all(np.isfinite(rrs)) or np.any(rrs <= 0):
        raise ValidationError([param_message("rr", "maxsprt_performance", "positive relative risks", rr)])
    power, signal_time, length = [], [], []
    for r in rrs.tolist():
        if boundary.model == "poisson":
            step = _poisson_step(boundary.looks, r)
        else:
            step = _binomial_step(boundary.looks, r / (r + boundary.z))
        prob, et = _chain(boundary.looks, boundary.thresholds, step, boundary.arrival_signal, r)
        pw = float(prob.sum())
        power.append(pw)
        signal_time.append(float(et.sum()) / pw if pw > 0 else float("nan"))
        length.append(float(et.sum()) + boundary.surveillance_length * (1.0 - pw))
    return MaxSPRTPerformance(rrs, np.array(power), np.array(signal_time), np.array(length))


def sequential_test(boundary: MaxSPRTBoundary, observed: Any, expected: Any) -> SequentialTestResult:
    """Test accruing data against a boundary: the LLR at each analysis and the first crossing.

    ``observed`` and ``expected`` are cumulative at each analysis: observed events and expected
    events under H0 (Poisson), or cases and events (binomial). With a flat boundary (a ``cv``)
    the analysis signals when LLR >= cv once ``minimum_events`` are observed and the expected
    count has reached ``delay``; analyses taken at discrete times against a continuous boundary
    are conservative. With an alpha-spending boundary the analyses are its looks, and a count at
    or above the look's threshold signals. Surveillance ends at the first analysis that reaches
    the surveillance length.

    Examples
    --------
    >>> b = maxsprt_poisson_cv(10.0)
    >>> r = sequential_test(b, [1, 3, 9], [1.0, 2.0, 3.0])
    >>> r.signalled, r.signal_index
    (True, 2)
    """
    owner = "sequential_test"
    problems = Problems()
    obs = np.atleast_1d(np.asarray(observed, dtype=np.float64))
    exp = np.atleast_1d(np.asarray(expected, dtype=np.float64))
    if obs.shape != exp.shape or obs.ndim != 1:
        problems.add(
            f"The 'observed' and 'expected' parameters of {owner} must be 1-D and of one length. "
            f"Got {obs.shape} and {exp.shape}."
        )
    elif len(obs) and (np.any(np.diff(obs) < 0) or np.any(np.diff(exp) < 0) or np.any(obs < 0) or np.any(exp <= 0)):
        problems.add(
            f"The 'observed' and 'expected' parameters of {owner} must be cumulative: non-decreasing, expected > 0."
        )
    flat = bool(np.isfinite(boundary.cv))
    if not flat and len(obs) > len(boundary.looks):
        problems.add(f"The boundary given to {owner} has {len(boundary.looks)} looks; got {len(obs)} analyses.")
    problems.raise_if_any()
    if boundary.model == "poisson":
        llr = poisson_llr(obs, exp)
    else:
        llr = binomial_llr(obs, exp, z=boundary.z)
    if flat:
        critical = np.full(len(obs), boundary.cv)
        crossing = (llr >= boundary.cv - 1e-12) & (obs >= boundary.minimum_events) & (exp >= boundary.delay)
    else:
        thr = boundary.thresholds[: len(obs)]
        if boundary.model == "poisson":
            critical = poisson_llr(thr, boundary.looks[: len(obs)])
        else:
            critical = binomial_llr(thr, boundary.looks[: len(obs)], z=boundary.z)
        crossing = obs >= thr
    end = np.flatnonzero(exp >= boundary.surveillance_length * (1 - 1e-12))
    last = int(end[0]) if len(end) else len(obs) - 1
    hits = np.flatnonzero(crossing[: last + 1])
    index = int(hits[0]) if len(hits) else None
    return SequentialTestResult(obs, exp, llr, critical, index is not None, index, len(end) > 0 or index is not None)
