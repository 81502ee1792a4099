"""MaxSPRT: properties the exact computation must have, and the error grammar."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from cgtvigil.errors import ValidationError
from cgtvigil.signals import (
    MaxSPRTBoundary,
    binomial_llr,
    maxsprt_alpha_spending,
    maxsprt_binomial_cv,
    maxsprt_performance,
    maxsprt_poisson_cv,
    poisson_llr,
    sequential_test,
)


def test_llr_closed_forms() -> None:
    assert poisson_llr([6], [2.0])[0] == pytest.approx(2.0 - 6.0 + 6.0 * np.log(3.0))
    assert poisson_llr([1, 0], [2.0, 1.0]).tolist() == [0.0, 0.0]  # observed <= expected: 0
    assert binomial_llr([10], [10], z=3.0)[0] == pytest.approx(10 * np.log(4.0))  # all cases: n log(1+z)


def test_continuous_boundary_is_the_lambert_w_solution() -> None:
    b = maxsprt_poisson_cv(20.0, minimum_events=2)
    inner = b.arrival_signal & (b.looks < 20.0)
    # at each boundary time mu_k the LLR of k events equals cv
    assert poisson_llr(b.thresholds[inner], b.looks[inner]) == pytest.approx(np.full(inner.sum(), b.cv), abs=1e-9)
    assert b.thresholds.min() >= 2
    assert b.spent[-1] == pytest.approx(b.attained_alpha)


def test_alpha_level_is_exact_by_simulation_free_identity() -> None:
    """Performance at RR = 1 is the alpha level itself (the same chain, no separate code)."""
    for b in (
        maxsprt_poisson_cv(15.0),
        maxsprt_poisson_cv(15.0, group_sizes=[5, 5, 5]),
        maxsprt_binomial_cv(30, z=2.0),
    ):
        assert maxsprt_performance(b, [1.0]).power[0] == pytest.approx(b.attained_alpha, abs=1e-12)


def test_power_increases_with_rr_and_minimum_events_lowers_cv() -> None:
    b = maxsprt_poisson_cv(10.0)
    power = maxsprt_performance(b, [1.0, 1.5, 2.0, 4.0]).power
    assert np.all(np.diff(power) > 0)
    assert maxsprt_poisson_cv(10.0, minimum_events=4).cv < b.cv


def test_group_cv_lies_below_continuous_cv() -> None:
    """Fewer looks spend less alpha, so the same alpha allows a lower boundary."""
    assert maxsprt_poisson_cv(30.0, group_sizes=[10, 10, 10]).cv < maxsprt_poisson_cv(30.0).cv


def test_alpha_spending_thresholds_are_the_smallest_within_the_spend() -> None:
    looks = [4.0, 8.0, 12.0, 16.0]
    b = maxsprt_alpha_spending("poisson", 16.0, looks, rho=1.0, minimum_events=2)
    target = 0.05 * np.array(looks) / 16.0
    assert np.all(b.spent <= target + 1e-15)
    assert _cumulative_alpha(b, b.thresholds) == pytest.approx(b.spent.tolist(), abs=1e-14)
    for i in range(len(looks)):  # one event fewer at any look would overspend there
        if b.thresholds[i] > 2:
            lowered = b.thresholds.copy()
            lowered[i] -= 1
            assert _cumulative_alpha(b, lowered)[i] > target[i]


def _cumulative_alpha(b: MaxSPRTBoundary, thresholds: np.ndarray) -> list[float]:
    """Exact alpha spent up to each look with the given thresholds (the design truncated there)."""
    out = []
    for i in range(len(b.looks)):
        part = replace(b, looks=b.looks[: i + 1], thresholds=np.asarray(thresholds[: i + 1]), surveillance_length=1e9)
        out.append(float(maxsprt_performance(part, [1.0]).power[0]))
    return out


def test_sequential_test_signals_at_the_first_crossing_and_respects_minimum_events() -> None:
    b = maxsprt_poisson_cv(10.0, minimum_events=3)
    r = sequential_test(b, [2, 2, 6, 9], [0.1, 0.5, 1.0, 2.0])
    assert r.llr[0] > b.cv  # 2 events at 0.1 expected cross the LLR, but M = 3 holds the signal back
    assert r.signal_index == 2 and r.signalled
    quiet = sequential_test(b, [0, 1, 5, 10], [1.0, 4.0, 8.0, 11.0])
    assert not quiet.signalled and quiet.ended  # the last analysis passes the surveillance length


def test_sequential_test_with_alpha_spending_uses_look_thresholds() -> None:
    b = maxsprt_alpha_spending("binomial", 50, [15, 30, 40, 50], z=1.0)
    r = sequential_test(b, [11, 21], [15, 30])
    assert r.signal_index == 1
    assert r.critical.tolist() == pytest.approx(binomial_llr([12, 21], [15, 30], z=1.0).tolist())


def test_errors_follow_the_grammar_and_are_collected() -> None:
    with pytest.raises(ValidationError) as err:
        maxsprt_poisson_cv(-1.0, alpha=0.7, minimum_events=0)
    text = str(err.value)
    assert "The 'surveillance_length' parameter of maxsprt_poisson_cv" in text
    assert "'alpha'" in text and "'minimum_events'" in text
    with pytest.raises(ValidationError, match="add up to the surveillance length"):
        maxsprt_poisson_cv(30.0, group_sizes=[10, 10])
    with pytest.raises(ValidationError, match="cannot reach alpha"):
        maxsprt_poisson_cv(0.5, minimum_events=4)
    with pytest.raises(ValidationError, match="exactly one"):
        maxsprt_binomial_cv(20)
    with pytest.raises(ValidationError, match="cumulative"):
        sequential_test(maxsprt_poisson_cv(5.0), [3, 2], [1.0, 2.0])


def test_hostile_sizes_are_refused_before_any_work() -> None:
    """Work is bounded: lengths and looks beyond the caps are refused at once, with the cap named."""
    with pytest.raises(ValidationError, match=r"surveillance_length.*\(0, 2000\)"):
        maxsprt_poisson_cv(1e9)
    with pytest.raises(ValidationError, match=r"\[1, 2000\]"):
        maxsprt_binomial_cv(10**7, z=1.0)
    with pytest.raises(ValidationError, match="at most 1000 looks"):
        maxsprt_poisson_cv(2000.0, group_sizes=[1.0] * 2000)
    with pytest.raises(ValidationError, match=r"2000 looks from 1\.0 to 2000\.0"):
        maxsprt_alpha_spending("poisson", 2000.0, np.arange(1.0, 2001.0))
    with pytest.raises(ValidationError, match="at most 2000 for the binomial model"):
        maxsprt_alpha_spending("binomial", 10**6, [10, 20], z=1.0)
