"""The states of a signal (GVP Module IX steps), the transitions between them, the outcomes
of the closing decision, the meanings of an electronic signature, and the timelines (days per
state) as versioned data."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cgtvigil._validation import read_json_model
from cgtvigil.errors import ValidationError

__all__ = [
    "MEANINGS",
    "OPEN_STATES",
    "OUTCOMES",
    "STATES",
    "STATE_LABELS",
    "Timelines",
    "allowed_next",
    "load_timelines",
]

# GVP IX.B: detection, validation, confirmation (an EU network step for EudraVigilance
# signals, so it may be skipped), analysis and prioritisation, assessment, recommendation for
# action; then the decision closes the signal (exchange of information is the share step).
STATES = ("detection", "validation", "confirmation", "analysis", "assessment", "recommendation", "closed")
OPEN_STATES = STATES[:-1]
STATE_LABELS = {
    "detection": "Detection",
    "validation": "Validation",
    "confirmation": "Confirmation",
    "analysis": "Analysis and prioritisation",
    "assessment": "Assessment",
    "recommendation": "Recommendation for action",
    "closed": "Closed",
}
# the closing decision: not a signal after all (not validated, not confirmed, assessed as
# unrelated), kept under routine monitoring, or a new or changed risk of the register
OUTCOMES = ("refuted", "monitored", "confirmed_risk")
# the meaning of an electronic signature (21 CFR 11.50(a)(3)): what the signer attests
MEANINGS = ("authorship", "review", "approval", "responsibility")


def allowed_next(state: str) -> tuple[str, ...]:
    """The states a signal in ``state`` may move to: the next step; from validation also
    straight to analysis (no confirmation step outside the EU network); from any open state
    to closed (with an outcome); from closed back to validation (new information reopens)."""
    if state == "closed":
        return ("validation",)
    i = STATES.index(state)
    following = [STATES[i + 1]]
    if state == "validation":
        following.append("analysis")
    if "closed" not in following:
        following.append("closed")
    return tuple(following)


class Timelines(BaseModel):
    """Days a signal may stay in each open state before it is overdue (versioned data)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, max_length=64)
    verified: bool = Field(description="false: not confirmed against GVP Module IX (shown with every due date)")
    note: str = ""
    days: dict[str, int]

    def due(self, state: str, since: datetime) -> datetime | None:
        """When a signal entering ``state`` at ``since`` is due to leave it (None: no limit)."""
        days = self.days.get(state)
        return since + timedelta(days=days) if days is not None and state != "closed" else None


def load_timelines(path: Path | None = None) -> Timelines:
    """The shipped timelines (UNCONFIRMED GVP IX figures), or a deployment's from ``path``."""
    timelines, where = read_json_model(Timelines, path, package="cgtvigil.signal_management", name="timelines.json")
    problems = [
        f"{where}: field 'days.{s}': expected one of {', '.join(OPEN_STATES)}"
        for s in timelines.days
        if s not in OPEN_STATES
    ] + [f"{where}: field 'days.{s}': must be at least 1 day, got {d}" for s, d in timelines.days.items() if d < 1]
    if problems:
        raise ValidationError(problems)
    return timelines
