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

__all__ = [
    "DelimitedReader",
    "DrugNormaliser",
    "FaersMember",
    "FaersQuarter",
    "LineStats",
    "MemberResult",
    "QuarantineRow",
    "clean_ingredient",
    "open_quarter",
    "read_deleted",
    "read_member",
]
