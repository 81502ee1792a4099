"""Query service of the drill-down's time-to-onset chart: one (product, PT) pair's onset
intervals from the FAERS store (screening._onset) and its Weibull fit, as a view model."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from cgtvigil.errors import NotFoundError, NotInScopeError
from cgtvigil.screening._onset import onset_intervals, onset_summary
from cgtvigil.screening._screen import open_screen_store
from cgtvigil.signals import HAZARD_READINGS
from cgtvigil.store import Scope

__all__ = ["OnsetFit", "OnsetInterval", "OnsetView", "onset_view"]


class OnsetInterval(BaseModel):
    lower: float = Field(description="first day the onset may be (days after the therapy start)")
    upper: float = Field(description="last day the onset may be")
    precision: str = Field(description="day, month or year: the coarser of the two dates")


class OnsetFit(BaseModel):
    shape: float
    shape_lower: float
    shape_upper: float
    scale: float
    median_days: float
    hazard: str = Field(description="early, constant or late hazard (the Weibull shape's CI against 1)")
    reading: str
    n_exact: int
    n_censored: int


class OnsetView(BaseModel):
    drug: str
    event: str
    pairs: int = Field(description="(report, product, PT) rows of the pair")
    statuses: dict[str, int] = Field(description="rows per onset status (ok or why there is no onset)")
    onsets: list[OnsetInterval]
    fit: OnsetFit | None = None
    note: str = ""


def onset_view(db: Path, scope: Scope, drug: str, event: str, *, min_onsets: int = 3) -> OnsetView:
    """The onsets of one pair and, with ``min_onsets`` or more, its Weibull fit."""
    if not scope.screens:
        raise NotInScopeError("the spontaneous-report screens are not in this account's scope")
    if not Path(db).exists():
        raise NotFoundError("no FAERS store")
    with open_screen_store(Path(db)) as store:
        intervals = onset_intervals(store, drugs=[drug], events=[event])
    if intervals.table.num_rows == 0:
        raise NotFoundError(f"no report has {drug!r} as a suspect product with {event!r}")
    summary = onset_summary(intervals, min_onsets=min_onsets).to_pylist()[0]
    onsets = [
        OnsetInterval(lower=r["onset_lower"], upper=r["onset_upper"], precision=r["precision"])
        for r in intervals.usable().to_pylist()
    ]
    fit = None
    if summary["shape"] is not None:
        fit = OnsetFit(
            **{k: summary[k] for k in ("shape", "shape_lower", "shape_upper", "scale", "median_days", "hazard")},
            reading=HAZARD_READINGS.get(summary["hazard"], ""),
            n_exact=summary["n_exact"],
            n_censored=summary["n_censored"],
        )
    statuses = {k: v for k, v in intervals.attrition.items() if k != "pairs"}
    return OnsetView(
        drug=drug, event=event.strip().upper(), pairs=intervals.attrition["pairs"], statuses=statuses,
        onsets=onsets, fit=fit, note=summary["note"] or "",
    )  # fmt: skip
