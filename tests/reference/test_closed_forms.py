"""PRR, ROR, chi-square and IC against hand-computed tables, published formulas and an
independent implementation (SciPy's contingency-table functions)."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy.stats import chi2_contingency, gamma
from scipy.stats.contingency import odds_ratio

from cgtvigil.signals import ContingencyTables, information_component, prr, ror


def test_prr_hand_computed() -> None:
    """a=20, b=80, c=100, d=9800 (hand computation):
    PRR = (20/100) / (100/9900) = 19.8
    SE = sqrt(1/20 - 1/100 + 1/100 - 1/9900) = sqrt(0.0498990) = 0.2233808
    95% CI = 19.8 * exp(-/+ 1.959964 * 0.2233808) = 12.77977 .. 30.67660
    chi2 = N (ad - bc)^2 / ((a+b)(c+d)(a+c)(b+d)) = 1e4 * 188000^2 / (100*9900*120*9880) = 301.12188"""
    r = prr(ContingencyTables.from_counts([20], [80], [100], [9800]))
    assert r.prr[0] == pytest.approx(19.8, rel=1e-12)
    assert r.lower[0] == pytest.approx(
        19.8 * math.exp(-1.959963984540054 * math.sqrt(1 / 20 - 1 / 100 + 1 / 100 - 1 / 9900)), rel=1e-12
    )
    assert r.lower[0] == pytest.approx(12.77977, abs=1e-5)
    assert r.upper[0] == pytest.approx(30.67660, abs=1e-5)
    assert r.chi2[0] == pytest.approx(1e4 * 188000**2 / (100 * 9900 * 120 * 9880), rel=1e-12)
    assert r.chi2[0] == pytest.approx(301.12188, abs=1e-5)
    assert not r.corrected[0]


def test_ror_hand_computed() -> None:
    """ROR = (20*9800)/(80*100) = 24.5; SE = sqrt(1/20+1/80+1/100+1/9800) = 0.2694477;
    95% CI = 24.5 exp(-/+1.959964*0.2694477) = 14.44814 .. 41.54515 (hand computation)."""
    r = ror(ContingencyTables.from_counts([20], [80], [100], [9800]))
    assert r.ror[0] == pytest.approx(24.5, rel=1e-12)
    assert r.lower[0] == pytest.approx(14.44814, abs=1e-5)
    assert r.upper[0] == pytest.approx(41.54515, abs=1e-5)


def test_zero_cell_gets_haldane_correction_and_flag() -> None:
    """a=0: every cell + 0.5 -> PRR = (0.5/6)/(7.5/908), ROR = (0.5*900.5)/(5.5*7.5)."""
    t = ContingencyTables.from_counts([0, 3], [5, 5], [7, 7], [900, 900])
    p, o = prr(t), ror(t)
    assert p.corrected.tolist() == [True, False]
    assert p.prr[0] == pytest.approx((0.5 / 6.0) / (7.5 / 908.0))
    assert o.ror[0] == pytest.approx(0.5 * 900.5 / (5.5 * 7.5))
    assert p.prr[1] == pytest.approx((3 / 8) / (7 / 907))


def test_yates_chi_square_matches_scipy() -> None:
    """Yates-corrected chi-square equals scipy.stats.chi2_contingency(correction=True)."""
    t = ContingencyTables.from_counts([12], [40], [30], [1500])
    expected = chi2_contingency(np.array([[12, 40], [30, 1500]]), correction=True)[0]
    assert prr(t, yates=True).chi2[0] == pytest.approx(expected, rel=1e-12)


def test_ic_hand_computed_and_exact_quantiles() -> None:
    """O=20, E=1.2: IC = log2(20.5/1.7) = 3.592017 (Norén 2006 shrinkage); exact limits are
    log2 of Gamma(20.5, rate 1.7) quantiles (scipy.stats.gamma); the approximation is
    IC - 3.3*20.5^-0.5 - 2*20.5^-1.5 and IC + 2.4*20.5^-0.5 - 0.5*20.5^-1.5 (Norén 2013)."""
    r = information_component([20], [1.2])
    assert r.ic[0] == pytest.approx(math.log2(20.5 / 1.7), rel=1e-12)
    assert r.ic[0] == pytest.approx(3.592017, abs=1e-6)
    assert r.lower[0] == pytest.approx(math.log2(gamma.ppf(0.025, 20.5, scale=1 / 1.7)), rel=1e-10)
    assert r.upper[0] == pytest.approx(math.log2(gamma.ppf(0.975, 20.5, scale=1 / 1.7)), rel=1e-10)
    a = information_component([20], [1.2], method="approx")
    assert a.lower[0] == pytest.approx(r.ic[0] - 3.3 * 20.5**-0.5 - 2 * 20.5**-1.5, rel=1e-12)
    assert a.upper[0] == pytest.approx(r.ic[0] + 2.4 * 20.5**-0.5 - 0.5 * 20.5**-1.5, rel=1e-12)
    assert abs(a.lower[0] - r.lower[0]) < 0.05  # the approximation is close to the exact limit


@pytest.fixture(scope="module")
def amnesia(shared: Path) -> dict[str, np.ndarray]:
    return duckdb.sql(
        f"SELECT * FROM read_csv('{shared / 'disproportionality/mhra_amnesia/amnesia.csv'}')"
    ).fetchnumpy()


def test_mhra_amnesia_table_against_scipy(amnesia: dict[str, np.ndarray]) -> None:
    """The real MHRA Yellow Card amnesia table (2,446 drugs): amnesia cases sum to 2,044 and
    other ADRs to 682,648 (the README's d = 682,648 - 2,044 - b treats 682,648 as all ADRs,
    but the column itself sums to 682,648, so here c = 2,044 - a and d = 682,648 - b).
    For every drug without a zero cell, ROR and its Woolf CI
    equal scipy.stats.contingency.odds_ratio(kind='sample'), and the Pearson chi-square
    equals scipy.stats.chi2_contingency(correction=False)."""
    a = amnesia["AmnesiaCases"].astype(float)
    b = amnesia["OtherAdverseCases"].astype(float)
    c = 2044 - a
    d = 682648 - b
    assert a.sum() == 2044 and b.sum() == 682648
    t = ContingencyTables.from_counts(a, b, c, d)
    r, p = ror(t), prr(t)
    rows = np.flatnonzero(~t.zero_cell)
    assert len(rows) >= 150
    for i in rows[:: max(1, len(rows) // 60)]:
        table = np.array([[a[i], b[i]], [c[i], d[i]]]).astype(int)
        ref = odds_ratio(table, kind="sample")
        ci = ref.confidence_interval(0.95)
        assert r.ror[i] == pytest.approx(ref.statistic, rel=1e-10)
        assert r.lower[i] == pytest.approx(ci.low, rel=1e-9)
        assert r.upper[i] == pytest.approx(ci.high, rel=1e-9)
        assert p.chi2[i] == pytest.approx(chi2_contingency(table, correction=False)[0], rel=1e-9)
