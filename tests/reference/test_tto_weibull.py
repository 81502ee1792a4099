"""Weibull time-to-onset fits against independent implementations.

* Uncensored onsets: ``scipy.stats.weibull_min.fit(x, floc=0)`` (SciPy's own maximum-likelihood
  fit), run in the test itself.
* Interval- and right-censored onsets: R's ``survival::survreg(Surv(left, right,
  type="interval2") ~ 1, dist="weibull")`` (survival 3.5-3, R 4.2.2, Debian bookworm), whose
  shape is 1 / ``fit$scale``, scale ``exp(coef(fit))``; the script and its output are below.
  lifelines' ``WeibullFitter`` (the first choice) cannot be installed beside the project's pinned
  pandas 3 (lifelines 0.30.3 requires pandas < 3).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import weibull_min

from cgtvigil.signals import WeibullOnsetFitter

INF = float("inf")
LOWER = [44, 4, 12, 17, 39, 24, 35, 13, 31, 0, 68, 2, 0, 7, 32, 0, 5, 27, 51, 4, 11, 24, 6, 1, 10, 1, 1, 37, 10, 1]
UPPER = [
    74,
    4,
    12,
    47,
    39,
    24,
    65,
    INF,
    31,
    23,
    68,
    2,
    30,
    7,
    INF,
    26,
    5,
    27,
    81,
    4,
    11,
    54,
    6,
    1,
    40,
    1,
    1,
    67,
    INF,
    1,
]


@pytest.mark.parametrize(("shape", "scale", "n", "seed"), [(0.6, 10.0, 80, 1), (1.0, 30.0, 150, 2), (2.2, 90.0, 60, 3)])
def test_uncensored_fit_matches_scipy(shape: float, scale: float, n: int, seed: int) -> None:
    """scipy.stats.weibull_min.fit(x, floc=0) on the same sample (computed in the test)."""
    x = weibull_min.rvs(shape, scale=scale, size=n, random_state=np.random.default_rng(seed))
    c, _, s = weibull_min.fit(x, floc=0)
    f = WeibullOnsetFitter().fit(x)
    assert f.shape_ == pytest.approx(c, rel=1e-5)
    assert f.scale_ == pytest.approx(s, rel=1e-5)
    assert f.log_likelihood_ == pytest.approx(float(np.sum(weibull_min.logpdf(x, c, scale=s))), abs=1e-6)


def test_interval_censored_fit_matches_r_survreg() -> None:
    """R survival::survreg on the 30 onsets below (0 -> NA left, Inf -> NA right):

        lo <- c(44, 4, 12, ...); hi <- c(74, 4, 12, ...)   # LOWER and UPPER of this file
        left <- ifelse(lo == 0, NA, lo); right <- ifelse(is.infinite(hi), NA, hi)
        fit <- survreg(Surv(left, right, type="interval2") ~ 1, dist="weibull")
        1/fit$scale; exp(coef(fit)); fit$loglik[1]; sqrt(diag(vcov(fit)))

    printed shape 0.896541183526, scale 22.5407810503, loglik -78.9335942475, standard errors
    0.226129815039 (log scale) and 0.166512105637 (log sigma = -log shape)."""
    f = WeibullOnsetFitter().fit(LOWER, UPPER)
    assert f.shape_ == pytest.approx(0.896541183526, rel=1e-6)
    assert f.scale_ == pytest.approx(22.5407810503, rel=1e-6)
    assert f.log_likelihood_ == pytest.approx(-78.9335942475, abs=1e-7)
    z = 1.959963984540054
    assert np.log(f.shape_ci_[1] / f.shape_) / z == pytest.approx(0.166512105637, rel=1e-4)
    assert np.log(f.scale_ci_[1] / f.scale_) / z == pytest.approx(0.226129815039, rel=1e-4)
    assert (f.n_exact_, f.n_censored_) == (17, 13)
