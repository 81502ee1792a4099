"""Domain types (L0): no I/O, no frameworks beyond pydantic."""

from cgtvigil.model._faers import FAERS_COLUMNS, FAERS_TABLES
from cgtvigil.model._product import Modality, Product, ProductDictionary, normalise_name
from cgtvigil.model._spec import ALL_METHODS, SignalSpec, spec_hash
from cgtvigil.model._topic import SafetyTopic, TopicSet

__all__ = [
    "ALL_METHODS",
    "FAERS_COLUMNS",
    "FAERS_TABLES",
    "Modality",
    "Product",
    "ProductDictionary",
    "SafetyTopic",
    "SignalSpec",
    "TopicSet",
    "normalise_name",
    "spec_hash",
]
