"""EB05 and EB95 solve F(x) = p for the posterior gamma mixture to double precision, with the
Halley stop (issue 17) as without: against a bracketing solver, on priors from the fitted spike
of the synthetic benchmark (a near-degenerate second component) to two well separated ones."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import gammainc

from cgtvigil.signals import GammaMixturePrior, ebgm
from cgtvigil.signals._ebgm import _posterior_weight

PRIORS = [
    GammaMixturePrior(6.14e-06, 0.0008, 162631.1, 162754.8, 0.00016),  # the 1M synthetic set's fit
    GammaMixturePrior(0.2, 0.1, 2.0, 4.0, 1 / 3),
    GammaMixturePrior(0.5, 0.3, 12.0, 12.0, 0.8),
    GammaMixturePrior(0.05, 0.01, 50.0, 50.0, 0.5),  # two separated components
]


@pytest.mark.parametrize("prior", PRIORS)
def test_quantiles_solve_the_posterior_cdf(prior: GammaMixturePrior) -> None:
    rng = np.random.default_rng(7)
    n = rng.integers(1, 200, 3_000).astype(float) ** rng.choice([0.5, 1.0], 3_000)
    n = np.round(n)
    e = rng.gamma(0.7, 3.0, 3_000) + 1e-3
    result = ebgm(n, e, prior)
    q = _posterior_weight(n, e, prior)
    w1 = np.where(q <= 1e-13, 0.0, np.where(q >= 1 - 1e-13, 1.0, q))
    s1, r1, s2, r2 = prior.alpha1 + n, prior.beta1 + e, prior.alpha2 + n, prior.beta2 + e

    def cdf(x: np.ndarray, i: slice | int = slice(None)) -> np.ndarray:
        return np.asarray(w1[i] * gammainc(s1[i], r1[i] * x) + (1 - w1[i]) * gammainc(s2[i], r2[i] * x))

    for prob, x in ((0.05, result.lower), (0.95, result.upper)):
        assert np.all(np.isfinite(x)) and np.all(x > 0)
        assert np.abs(cdf(x) - prob).max() < 1e-12
        for i in rng.choice(len(n), 40, replace=False):
            root = brentq(lambda t, i=i, p=prob: float(cdf(np.array(t), i)) - p, 1e-300, 1e6, xtol=1e-300, rtol=1e-15)
            assert x[i] == pytest.approx(root, rel=1e-11)
    assert np.all(result.lower < result.upper)
