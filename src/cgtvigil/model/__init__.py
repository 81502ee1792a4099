"""Domain types (L0): no I/O, no frameworks beyond pydantic."""

from cgtvigil.model._clinical import (
    Consciousness,
    CRSAssessment,
    ICANSAssessment,
    LabResult,
    O2Device,
    Seizure,
)
from cgtvigil.model._faers import FAERS_COLUMNS, FAERS_TABLES
from cgtvigil.model._observation import Observation, QuarantinedInput
from cgtvigil.model._product import Modality, Product, ProductDictionary, normalise_name
from cgtvigil.model._spec import ALL_METHODS, SignalSpec, spec_hash
from cgtvigil.model._topic import SafetyTopic, TopicSet

__all__ = [
    "ALL_METHODS",
    "FAERS_COLUMNS",
    "FAERS_TABLES",
    "CRSAssessment",
    "Consciousness",
    "ICANSAssessment",
    "LabResult",
    "Modality",
    "O2Device",
    "Observation",
    "Product",
    "ProductDictionary",
    "QuarantinedInput",
    "SafetyTopic",
    "Seizure",
    "SignalSpec",
    "TopicSet",
    "normalise_name",
    "spec_hash",
]
