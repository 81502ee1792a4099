"""The monitoring rule set: versioned, configurable thresholds. The defaults are cgtvigil's
project defaults, documented here; they are not clinical guidance."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MonitoringRules"]


class MonitoringRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = "cgtvigil-monitoring-rules-0.1"
    verified: bool = Field(False, description="project defaults, not validated clinical guidance")
    fever_c: float = 38.0
    fever_min_readings: int = Field(3, description="sensor readings at or above fever_c ...")
    fever_window_minutes: int = Field(10, description="... within this many minutes (persistence filter)")
    masking_hours: float = Field(6.0, description="after an antipyretic/anti-cytokine dose, fever may be masked")
    spo2_below: float = 92.0
    heart_rate_above: float = 130.0
    sbp_below: float = 90.0
    vital_min_readings: int = 2
    vital_window_minutes: int = 15
    ctcae_min_grade: int = Field(3, description="a new or worsening CTCAE grade at or above this alerts")
    ctcae_version: Literal["5.0", "6.0"] = "5.0"
    pro_ctcae_min_score: int = 3
    kinetics_fold: float = Field(2.0, description="CRP or ferritin rising this many fold ...")
    kinetics_hours: float = Field(24.0, description="... within this many hours")
    aav_alt_uln_fold: float = Field(3.0, description="AAV products: ALT or AST above this many x ULN ...")
    aav_alt_baseline_fold: float = Field(2.0, description="... or above this many x the baseline (ALT, AST, bilirubin)")
    aav_bilirubin_uln_fold: float = Field(2.0, description="AAV products: bilirubin above this many x ULN")
    icaht_min_grade: int = Field(3, description="running early ICAHT grade that alerts")
    acknowledge_minutes: dict[str, int] = Field(
        default_factory=lambda: {"critical": 15, "high": 60, "warning": 240, "info": 1440}
    )
    symptom_severity: dict[str, str] = Field(
        default_factory=lambda: {
            "cgt_seizure": "critical",
            "cgt_confusion": "high",
            "cgt_handwriting_change": "high",
            "cgt_breathlessness": "high",
            "cgt_fever": "warning",
        }
    )
