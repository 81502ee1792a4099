"""Adapters from external formats to the canonical model (L2)."""

from cgtvigil.ingest._delimited import DelimitedReader, LineStats, QuarantineRow
from cgtvigil.ingest._drugnames import DrugNormaliser, clean_ingredient
from cgtvigil.ingest._faers import (
    FaersMember,
    FaersQuarter,
    MemberResult,
    open_quarter,
    read_deleted,
    read_member,
)
from cgtvigil.ingest._patient_data import (
    CGT_SYMPTOM_ITEMS,
    LOINC_CODES,
    IntakeResult,
    read_assessments,
    read_fhir_bundle,
    read_omh,
    read_questionnaire_response,
    read_wearable_csv,
)

__all__ = [
    "CGT_SYMPTOM_ITEMS",
    "LOINC_CODES",
    "DelimitedReader",
    "DrugNormaliser",
    "FaersMember",
    "FaersQuarter",
    "IntakeResult",
    "LineStats",
    "MemberResult",
    "QuarantineRow",
    "clean_ingredient",
    "open_quarter",
    "read_assessments",
    "read_deleted",
    "read_fhir_bundle",
    "read_member",
    "read_omh",
    "read_questionnaire_response",
    "read_wearable_csv",
]
