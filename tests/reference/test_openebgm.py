"""EBGM, EB05 and EB95 against openEBGM 0.9.1 (FDA CFSAN's R implementation of MGPS).

Expected values: ``shared/data/disproportionality/openebgm_synth_20k/``: openEBGM's
``processRaw`` -> ``squashData`` -> ``autoHyper`` -> ``ebScores`` on a seeded 20,000-report
synthetic dataset, run under R 4.2.2 (see that folder's README for the exact script). The
scores are rounded to 6 significant digits, so the tolerance is 1e-5 x max(1, |x|).
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import numpy as np
import pytest

from cgtvigil.model import SignalSpec
from cgtvigil.screening import screen_long_file
from cgtvigil.signals import GammaMixturePrior, GammaMixturePriorFitter, prior_log_likelihood

VARIANTS = {"plain": ("", ()), "stratified": ("stratified_", ("strat1", "strat2"))}


def _reference(folder: Path, prefix: str) -> tuple[GammaMixturePrior, dict[str, np.ndarray]]:
    with (folder / f"openebgm_{prefix}hyperparameters_digits6.csv").open() as fh:
        h = next(csv.DictReader(fh))
    prior = GammaMixturePrior(
        float(h["alpha1"]), float(h["beta1"]), float(h["alpha2"]), float(h["beta2"]), float(h["P"])
    )
    scores = duckdb.sql(f"SELECT * FROM read_csv('{folder / f'openebgm_{prefix}scores_digits6.csv'}')").fetchnumpy()
    return prior, scores


@pytest.fixture(scope="module")
def folder(shared: Path) -> Path:
    return shared / "disproportionality" / "openebgm_synth_20k"


@pytest.mark.parametrize("variant", VARIANTS)
def test_scores_match_openebgm_given_its_prior(folder: Path, variant: str) -> None:
    """Counting (N, E; plain and Mantel-Haenszel over sex x age band) and scoring given
    openEBGM's own fitted prior reproduce its N, E, EBGM, EB05 and EB95 for all 22,603 pairs."""
    prefix, strata = VARIANTS[variant]
    prior, ref = _reference(folder, prefix)
    spec = SignalSpec(
        strata=strata, prior=(prior.alpha1, prior.beta1, prior.alpha2, prior.beta2, prior.p), methods=("ebgm",)
    )
    result = screen_long_file(folder / "reports_long.csv", spec)
    ours = result.table
    joined = _join(ref, ours)
    assert len(joined["N"]) == len(ref["N"]) == ours.num_rows == 22603
    np.testing.assert_array_equal(joined["N"], joined["o_n"])
    np.testing.assert_allclose(joined["o_e"], joined["E"], rtol=1e-9)
    for theirs, mine in (("EBGM", "o_ebgm"), ("QUANT_05", "o_eb05"), ("QUANT_95", "o_eb95")):
        err = np.abs(joined[mine] - joined[theirs]) / np.maximum(1.0, np.abs(joined[theirs]))
        assert err.max() <= 1e-5, f"{theirs}: max relative error {err.max():.2e}"


def _join(ref: dict[str, np.ndarray], ours: object) -> dict[str, np.ndarray]:
    con = duckdb.connect()
    con.register("ref", {k: ref[k] for k in ("var1", "var2", "N", "E", "EBGM", "QUANT_05", "QUANT_95")})
    con.register("ours", ours)
    return con.sql(
        "SELECT r.N, r.E, r.EBGM, r.QUANT_05, r.QUANT_95, o.n AS o_n, o.expected AS o_e, o.ebgm AS o_ebgm, "
        "o.eb05 AS o_eb05, o.eb95 AS o_eb95 FROM ref r JOIN ours o ON r.var1 = o.drug AND r.var2 = o.event"
    ).fetchnumpy()


@pytest.mark.parametrize("variant", VARIANTS)
def test_own_prior_fit_is_at_least_as_likely_as_openebgms(folder: Path, variant: str) -> None:
    """Our maximum-likelihood prior, fitted on all pairs (no squashing), reaches a
    zero-truncated log-likelihood at least as high as openEBGM's prior (fitted by nlminb on
    squashed data) on the same (N, E) pairs. openEBGM's LL on these data: computed here."""
    prefix, _ = VARIANTS[variant]
    prior, ref = _reference(folder, prefix)
    n, e = ref["N"].astype(float), ref["E"]
    fitter = GammaMixturePriorFitter().fit(n, e)
    theirs = prior_log_likelihood(prior, n, e)
    assert fitter.log_likelihood_ >= theirs
    assert fitter.log_likelihood_ == pytest.approx(prior_log_likelihood(fitter.prior_, n, e), rel=1e-12)
