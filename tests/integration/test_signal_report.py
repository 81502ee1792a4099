"""The HTML signal report for any set of methods (review of issue 9: a PRR-only result crashed it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cgtvigil.model import SignalSpec
from cgtvigil.reports import render_signal_report
from cgtvigil.screening import screen_long_file


@pytest.mark.filterwarnings("ignore:.*zero cell:cgtvigil.errors.StatisticalCaveatWarning")
@pytest.mark.parametrize("methods", [("prr",), ("ror", "ic"), ("ebgm",), ("prr", "ror", "ic", "ebgm")])
def test_report_renders_whatever_methods_were_screened(shared: Path, methods: tuple[str, ...]) -> None:
    """Statistics not computed show a dash, never a template error; a fitted prior is listed."""
    long = shared / "disproportionality" / "openebgm_synth_20k" / "reports_long.csv"
    result = screen_long_file(long, SignalSpec(methods=methods, event_levels=("pt",)))
    html = render_signal_report(result.table, result.metadata)
    assert "<table>" in html and "DRUG" in html
    assert ("MGPS prior (pt)" in html) == ("ebgm" in methods)
    if "ror" not in methods:
        assert "–" in html
