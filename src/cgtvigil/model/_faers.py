"""The canonical FAERS case model: the seven tables and their columns (formats.md §1.2-1.3).

Every column is kept as the raw string; typed values are derived in queries (C2).
"""

from __future__ import annotations

__all__ = ["FAERS_COLUMNS", "FAERS_TABLES"]

FAERS_TABLES = ("demo", "drug", "reac", "outc", "rpsr", "ther", "indi")

FAERS_COLUMNS: dict[str, tuple[str, ...]] = {
    "demo": (
        "primaryid",
        "caseid",
        "caseversion",
        "i_f_code",
        "foll_seq",
        "image",
        "event_dt",
        "mfr_dt",
        "init_fda_dt",
        "fda_dt",
        "rept_cod",
        "auth_num",
        "mfr_num",
        "mfr_sndr",
        "lit_ref",
        "age",
        "age_cod",
        "age_grp",
        "sex",
        "e_sub",
        "wt",
        "wt_cod",
        "rept_dt",
        "to_mfr",
        "occp_cod",
        "reporter_country",
        "occr_country",
        "death_dt",
        "confid",
    ),
    "drug": (
        "primaryid",
        "caseid",
        "drug_seq",
        "role_cod",
        "drugname",
        "prod_ai",
        "val_vbm",
        "route",
        "dose_vbm",
        "cum_dose_chr",
        "cum_dose_unit",
        "dechal",
        "rechal",
        "lot_num",
        "exp_dt",
        "nda_num",
        "dose_amt",
        "dose_unit",
        "dose_form",
        "dose_freq",
    ),
    "reac": ("primaryid", "caseid", "pt", "drug_rec_act"),
    "outc": ("primaryid", "caseid", "outc_cod"),
    "rpsr": ("primaryid", "caseid", "rpsr_cod"),
    "ther": ("primaryid", "caseid", "dsg_drug_seq", "start_dt", "end_dt", "dur", "dur_cod"),
    "indi": ("primaryid", "caseid", "indi_drug_seq", "indi_pt"),
}
