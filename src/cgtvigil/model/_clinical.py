"""Typed clinical observations for the grading library (clinical/). Units are declared with
every value; times are timezone-aware or all naive, consistently within one call."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CRSAssessment",
    "Consciousness",
    "ICANSAssessment",
    "LabResult",
    "O2Device",
    "Seizure",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LabResult(_Frozen):
    """One laboratory value with its unit, time and (optional) reference range in the same unit."""

    analyte: str = Field(description="anc, wbc, plt, hb, alt, ast, bilirubin, fibrinogen, crp, ferritin, ldh, ...")
    value: float
    unit: str
    time: datetime | None = None
    ref_low: float | None = None
    ref_high: float | None = None


class O2Device(StrEnum):
    NONE = "none"
    BLOW_BY = "blow_by"
    LOW_FLOW_NASAL_CANNULA = "low_flow_nasal_cannula"
    HIGH_FLOW_NASAL_CANNULA = "high_flow_nasal_cannula"
    FACEMASK = "facemask"
    NON_REBREATHER = "non_rebreather"
    VENTURI = "venturi"
    CPAP = "cpap"
    BIPAP = "bipap"
    MECHANICAL_VENTILATION = "mechanical_ventilation"


class CRSAssessment(_Frozen):
    """One CRS assessment time point (ASTCT 2019 inputs)."""

    time: datetime
    temperature: float | None = None
    temperature_unit: str = "Cel"
    sbp_mmhg: float | None = Field(None, description="systolic blood pressure")
    hypotension: bool | None = Field(None, description="explicit clinician finding; else derived from SBP and age")
    vasopressors: tuple[str, ...] = Field((), description="agents running now, e.g. norepinephrine, vasopressin")
    o2_device: O2Device | None = None
    o2_flow_l_min: float | None = None
    antipyretic: bool = Field(False, description="an antipyretic was given at or before this time")
    tocilizumab: bool = False
    corticosteroid: bool = False
    masking_agent_earlier: bool = Field(
        False,
        description="an antipyretic, tocilizumab or a corticosteroid was given earlier in this CRS episode: fever "
        "is masked and no longer required (ASTCT 2019 Table 1 footnote); for grading one assessment on its own",
    )
    fever_earlier: bool = Field(
        False,
        description="fever >= 38.0 °C was recorded earlier in this CRS episode; recorded and explained, it does "
        "not replace the fever requirement unless a masking agent was given (ASTCT 2019)",
    )
    other_cause: bool = Field(False, description="the fever is attributable to another cause (e.g. infection)")
    death_from_crs: bool = False
    age_years: float | None = Field(None, description="for the paediatric hypotension rule")
    birth_date: date | None = Field(None, description="checks that the time is not before birth")


class Consciousness(StrEnum):
    ALERT = "alert"
    AWAKENS_SPONTANEOUSLY = "awakens_spontaneously"
    AWAKENS_TO_VOICE = "awakens_to_voice"
    AWAKENS_TO_TACTILE = "awakens_to_tactile"
    UNAROUSABLE = "unarousable"


class Seizure(StrEnum):
    NONE = "none"
    RAPIDLY_RESOLVING = "rapidly_resolving"
    NONCONVULSIVE_RESOLVED_WITH_INTERVENTION = "nonconvulsive_resolved_with_intervention"
    PROLONGED_OVER_5_MIN = "prolonged_over_5_min"
    REPETITIVE_WITHOUT_RETURN_TO_BASELINE = "repetitive_without_return_to_baseline"


class ICANSAssessment(_Frozen):
    """One ICANS assessment (ASTCT 2019). Give either the ICE items or the ICE total, or for a
    child under 12 (or developmental delay) the 8 CAPD item points or the CAPD total."""

    time: datetime
    age_years: float | None = None
    developmental_delay: bool = False
    ice_items: dict[str, int] | None = Field(
        None, description="orientation 0-4, naming 0-3, commands 0-1, writing 0-1, attention 0-1"
    )
    ice_score: int | None = Field(None, ge=0, le=10)
    capd_items: tuple[int, ...] | None = Field(None, description="8 item points, each 0-4, already scored")
    capd_responses: tuple[str, ...] | None = Field(
        None, description="8 answers never/rarely/sometimes/often/always, items by number (wording not shipped)"
    )
    capd_score: int | None = Field(None, ge=0, le=32)
    unable_to_perform: bool = Field(False, description="cannot perform ICE/CAPD because unarousable")
    consciousness: Consciousness | None = None
    seizure: Seizure | None = None
    motor_weakness: bool | None = Field(None, description="deep focal motor weakness (hemiparesis, paraparesis)")
    focal_oedema: bool | None = None
    diffuse_oedema_or_icp_signs: bool | None = Field(
        None,
        description="diffuse oedema; decerebrate/decorticate posturing; CN VI palsy; papilloedema; Cushing triad",
    )
    other_cause: bool = Field(False, description="findings explained by another cause (e.g. sedation)")
    tremor: bool | None = Field(None, description="tremor: graded with CTCAE, does not change the ICANS grade")
    myoclonus: bool | None = Field(None, description="myoclonus: graded with CTCAE, does not change the ICANS grade")
    intracranial_haemorrhage: bool = False
    death_from_icans: bool = False
    birth_date: date | None = None
