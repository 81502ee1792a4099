"""FAERS and legacy AERS header profiles: canonical columns, aliases, required columns
(formats.md §1.2-1.4). Headers are matched case-insensitively, after trimming, by name."""

from __future__ import annotations

from cgtvigil.model import FAERS_COLUMNS as CANONICAL
from cgtvigil.model import FAERS_TABLES as TABLES

__all__ = ["ALIASES", "CANONICAL", "KNOWN_CODES", "REQUIRED", "TABLES", "canonical_name", "max_header_fields"]

# Alias -> canonical, per table (legacy AERS and quarter-specific spellings).
ALIASES: dict[str, dict[str, str]] = {
    "demo": {"isr": "primaryid", "case": "caseid", "gndr_cod": "sex", "i_f_cod": "i_f_code"},
    "drug": {"isr": "primaryid", "lot_nbr": "lot_num"},
    "reac": {"isr": "primaryid"},
    "outc": {"isr": "primaryid", "outc_code": "outc_cod"},
    "rpsr": {"isr": "primaryid"},
    "ther": {"isr": "primaryid", "drug_seq": "dsg_drug_seq"},
    "indi": {"isr": "primaryid", "drug_seq": "indi_drug_seq"},
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "demo": ("primaryid", "caseid"),
    "drug": ("primaryid", "drug_seq", "role_cod", "drugname"),
    "reac": ("primaryid", "pt"),
    "outc": ("primaryid", "outc_cod"),
    "rpsr": ("primaryid", "rpsr_cod"),
    "ther": ("primaryid", "dsg_drug_seq"),
    "indi": ("primaryid", "indi_pt"),
}

# Code lists checked for unknown values (C4: kept as is, counted as warnings).
KNOWN_CODES: dict[str, dict[str, frozenset[str]]] = {
    "drug": {"role_cod": frozenset({"PS", "SS", "C", "I"})},
    "outc": {"outc_cod": frozenset({"DE", "LT", "HO", "DS", "CA", "RI", "OT"})},
}


def canonical_name(table: str, header: str) -> str:
    """Canonical column name of a raw header field (trimmed, lower-cased, alias-resolved)."""
    name = header.strip().lower()
    return ALIASES[table].get(name, name)


def max_header_fields(table: str) -> int:
    """The most header fields accepted for ``table``: twice its canonical columns plus a few
    re-saved extras (``v23``). A header beyond that is not a FAERS layout (e.g. a file whose
    line breaks were not recognised, read as one giant header)."""
    return 2 * len(CANONICAL[table]) + 8
