"""Weibull time to onset: censoring, the WSP reading and the error grammar."""

from __future__ import annotations

import numpy as np
import pytest

from cgtvigil.errors import ConvergenceError, ValidationError
from cgtvigil.signals import WeibullOnsetFitter, compare_onsets, hazard_reading


def test_reading_of_the_shape_interval() -> None:
    assert hazard_reading(0.5, 0.99) == "early"
    assert hazard_reading(0.8, 1.0) == "constant"
    assert hazard_reading(1.01, 3.0) == "late"


@pytest.mark.parametrize(("shape", "reading"), [(0.5, "early"), (1.0, "constant"), (3.0, "late")])
def test_planted_shapes_are_read_back(shape: float, reading: str) -> None:
    x = np.random.default_rng(7).weibull(shape, 400) * 20.0
    f = WeibullOnsetFitter().fit(x)
    assert f.shape_ci_[0] < shape < f.shape_ci_[1]
    assert f.hazard_ == reading


def test_month_precision_intervals_recover_the_shape_that_midpoints_would_bias() -> None:
    """Onsets known only to a 30-day window: the interval likelihood keeps the truth in its CI."""
    rng = np.random.default_rng(11)
    t = rng.weibull(0.7, 600) * 40.0
    lower = np.floor(t / 30.0) * 30.0
    f = WeibullOnsetFitter().fit(lower, lower + 30.0)
    assert f.shape_ci_[0] < 0.7 < f.shape_ci_[1]
    assert f.n_censored_ == 600 and f.n_exact_ == 0


def test_right_censoring_lengthens_the_scale() -> None:
    x = np.random.default_rng(5).weibull(1.2, 200) * 50.0
    cut = np.minimum(x, 40.0)
    upper = np.where(x > 40.0, np.inf, cut)
    censored = WeibullOnsetFitter().fit(cut, upper)
    naive = WeibullOnsetFitter().fit(cut)
    assert censored.scale_ > naive.scale_
    assert censored.scale_ci_[0] < 50.0 < censored.scale_ci_[1]


def test_compare_onsets_does_not_reject_one_distribution() -> None:
    rng = np.random.default_rng(3)
    c = compare_onsets({"a": (rng.weibull(1.5, 60) * 10, None), "b": (rng.weibull(1.5, 60) * 10, None)})
    assert c.df == 2 and c.p_value > 0.01
    assert c.to_arrow().column("group").to_pylist() == ["a", "b"]


def test_bad_input_is_named() -> None:
    with pytest.raises(ValidationError, match="at position 1"):
        WeibullOnsetFitter().fit([1.0, -2.0, 3.0])
    with pytest.raises(ValidationError, match="at least 3"):
        WeibullOnsetFitter().fit([1.0, 2.0])
    with pytest.raises(ValidationError, match="exact onset must be > 0"):
        WeibullOnsetFitter().fit([0.0, 2.0, 3.0])
    with pytest.raises(ConvergenceError, match=r"every onset is 5\.0 days"):
        WeibullOnsetFitter().fit([5.0, 5.0, 5.0, 5.0])
    with pytest.raises(ValidationError, match="call fit"):
        WeibullOnsetFitter().summary()
