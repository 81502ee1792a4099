"""The canonical patient observation (wearables, vitals, labs, ePRO) and its quarantine record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Observation", "QuarantinedInput"]


class Observation(BaseModel):
    """One observed value in its canonical unit, with its source and provenance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    patient: str = Field(description="pseudonymous patient id (never a direct identifier)")
    kind: str = Field(
        description="temperature, heart_rate, spo2, sbp, dbp, a lab analyte, pro_ctcae:<item>, symptom:<id>"
    )
    value: float
    unit: str = Field(description="canonical unit of the kind")
    time: datetime = Field(description="time zone aware")
    source: str = Field(description="omh, fhir, csv, epro, ...")
    device: str | None = None
    location: str = Field("", description="file and line, or JSON path, of the input element")
    ref_low: float | None = None
    ref_high: float | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class QuarantinedInput(BaseModel):
    """An input element that was not loaded, with a machine-readable reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    location: str
    reason: str = Field(description="e.g. IMPLAUSIBLE_VALUE, UNKNOWN_UNIT, UNKNOWN_CODE, NO_TIMEZONE, INVALID")
    detail: str
    raw: str = ""
