"""One battery over every disproportionality method: zero cells, empty input, a single
report, huge counts and invalid values (NaN, negative). Expected behaviour is by definition
of each method (no external reference)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from cgtvigil.errors import ValidationError
from cgtvigil.signals import ContingencyTables, GammaMixturePrior, ebgm, information_component, prr, ror

PRIOR = GammaMixturePrior(0.2, 0.1, 2.0, 4.0, 1 / 3)


def _run(method: str, a: Any, b: Any, c: Any, d: Any) -> dict[str, np.ndarray]:
    t = ContingencyTables.from_counts(a, b, c, d)
    if method == "prr":
        r = prr(t)
        return {"point": r.prr, "lower": r.lower, "upper": r.upper}
    if method == "ror":
        o = ror(t)
        return {"point": o.ror, "lower": o.lower, "upper": o.upper}
    if method == "ic":
        i = information_component(t.a, t.expected)
        return {"point": i.ic, "lower": i.lower, "upper": i.upper}
    g = ebgm(t.a, t.expected, PRIOR)
    return {"point": g.ebgm, "lower": g.lower, "upper": g.upper}


METHODS = ("prr", "ror", "ic", "ebgm")
run: Callable[..., dict[str, np.ndarray]] = _run


@pytest.mark.parametrize("method", METHODS)
def test_zero_cells_give_finite_ordered_results(method: str) -> None:
    cells = [(0, 10, 20, 1000), (5, 0, 20, 1000), (5, 10, 0, 1000), (5, 10, 20, 0), (0, 0, 20, 1000)]
    a, b, c, d = (np.array(x, float) for x in zip(*cells, strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = run(method, a, b, c, d)
    ok = np.isfinite(r["point"])
    # (0, 0, 20, 1000) has no product reports: E = 0, only the 2x2 methods still give numbers.
    assert ok[:4].all(), r
    assert np.all(r["lower"][ok] <= r["point"][ok] + 1e-12)
    assert np.all(r["point"][ok] <= r["upper"][ok] + 1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_empty_input_gives_empty_output(method: str) -> None:
    r = run(method, [], [], [], [])
    assert all(len(v) == 0 for v in r.values())


@pytest.mark.parametrize("method", METHODS)
def test_single_report(method: str) -> None:
    """One report with the product and the event, nothing else: every table cell but a is 0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = run(method, [1], [0], [0], [0])
    assert len(r["point"]) == 1
    if method in ("prr", "ror"):  # 0.5 corrected: PRR = (1.5/2)/(0.5/1) = 1.5, ROR = 1.5*0.5/(0.5*0.5) = 3
        assert r["point"][0] == pytest.approx({"prr": 1.5, "ror": 3.0}[method])
    else:  # E = 1*1/1 = 1
        assert np.isfinite(r["point"][0])


@pytest.mark.parametrize("method", METHODS)
def test_huge_counts_stay_finite_and_precise(method: str) -> None:
    """Counts near 1e9 (far beyond any database) keep full precision: an independent
    table scaled 10x gives the same point estimate (PRR, ROR = 1; IC, EBGM ~ 1)."""
    a, b, c, d = 1e8, 9e8, 9e8, 8.1e9
    r = run(method, [a, a * 10], [b, b * 10], [c, c * 10], [d, d * 10])
    assert np.all(np.isfinite(r["point"]))
    if method in ("prr", "ror"):
        assert r["point"] == pytest.approx([1.0, 1.0], rel=1e-12)
    elif method == "ic":
        assert r["point"] == pytest.approx([0.0, 0.0], abs=1e-7)
    else:
        assert r["point"] == pytest.approx([1.0, 1.0], rel=1e-6)
    assert np.all(r["lower"] <= r["point"]) and np.all(r["point"] <= r["upper"])


@pytest.mark.parametrize("bad", [np.nan, -1.0, np.inf])
def test_invalid_counts_raise_one_clear_error(bad: float) -> None:
    with pytest.raises(ValidationError) as info:
        ContingencyTables.from_counts([1, bad], [2, 3], [4, 5], [6, bad])
    message = str(info.value)
    assert "2 problems" in message and "'a'" in message and "'d'" in message
    assert "finite, non-negative counts" in message


def test_invalid_parameters_are_reported_together() -> None:
    with pytest.raises(ValidationError) as info:
        information_component([1, 2], [1.0], alpha=1.5, method="bogus")  # type: ignore[arg-type]
    problems = info.value.problems
    assert len(problems) == 3
    assert problems[0] == "The 'alpha' parameter of information_component must be a float in (0, 1). Got 1.5."
