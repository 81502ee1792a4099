"""Clinical grading and risk scores (L1): pure, versioned, explained."""

from cgtvigil.clinical._crs import (
    CRS_VERSION,
    CRSEpisode,
    CRSEpisodeRules,
    grade_crs,
    grade_crs_series,
    hypotension_threshold,
)
from cgtvigil.clinical._ctcae import CTCAE_TERM_NAMES, CTCAE_TERMS, DEFAULT_RANGES, ctcae_term, grade_ctcae
from cgtvigil.clinical._hlh import HLHFindings, hlh2004, hscore
from cgtvigil.clinical._icaht import ICAHT_VERSION, ICAHTRules, daily_minimum, grade_icaht, grade_t_icaht
from cgtvigil.clinical._icans import (
    CAPD_ANSWERS,
    ICANS_VERSION,
    ICE_ITEMS,
    capd_points,
    capd_total,
    grade_icans,
    uses_capd,
)
from cgtvigil.clinical._iec_hs import IEC_HS_SCREEN_VERSION, iec_hs_screen
from cgtvigil.clinical._requests import REQUESTS, grade_request, request_schema
from cgtvigil.clinical._result import GradeResult, decided
from cgtvigil.clinical._scores import car_hematotox, easix, m_easix, simplified_easix
from cgtvigil.clinical._unit_mix import UnitMix, likely_units
from cgtvigil.clinical._units import (
    ANALYTES,
    Analyte,
    canonical_unit,
    convert,
    in_criterion_unit,
    lab_values,
    same_unit,
    signif,
    to_canonical,
)
from cgtvigil.clinical._vasopressors import VASOPRESSOR_SYNONYMS, VASOPRESSOR_SYNONYMS_VERSION, normalise_vasopressor

__all__ = [
    "ANALYTES",
    "CAPD_ANSWERS",
    "CRS_VERSION",
    "CTCAE_TERMS",
    "CTCAE_TERM_NAMES",
    "DEFAULT_RANGES",
    "ICAHT_VERSION",
    "ICANS_VERSION",
    "ICE_ITEMS",
    "IEC_HS_SCREEN_VERSION",
    "REQUESTS",
    "VASOPRESSOR_SYNONYMS",
    "VASOPRESSOR_SYNONYMS_VERSION",
    "Analyte",
    "CRSEpisode",
    "CRSEpisodeRules",
    "GradeResult",
    "HLHFindings",
    "ICAHTRules",
    "UnitMix",
    "canonical_unit",
    "capd_points",
    "capd_total",
    "car_hematotox",
    "convert",
    "ctcae_term",
    "daily_minimum",
    "decided",
    "easix",
    "grade_crs",
    "grade_crs_series",
    "grade_ctcae",
    "grade_icaht",
    "grade_icans",
    "grade_request",
    "grade_t_icaht",
    "hlh2004",
    "hscore",
    "hypotension_threshold",
    "iec_hs_screen",
    "in_criterion_unit",
    "lab_values",
    "likely_units",
    "m_easix",
    "normalise_vasopressor",
    "request_schema",
    "same_unit",
    "signif",
    "simplified_easix",
    "to_canonical",
    "uses_capd",
]
