"""The spontaneous-report workflow (L3): ingest -> store -> engine counts -> statistics."""

from cgtvigil.screening._ingest import (
    Checkpoint,
    FileReport,
    IgnoredReport,
    ImportReport,
    ingest_faers,
    refresh_drug_map,
)
from cgtvigil.screening._onset import (
    ONSET_STATUSES,
    OnsetIntervals,
    class_onset_comparison,
    onset_intervals,
    onset_summary,
)
from cgtvigil.screening._output import check_result_path, check_writable, read_result, sidecar_path, write_result
from cgtvigil.screening._scoring import PriorReport, rank, score_pairs
from cgtvigil.screening._screen import (
    ScreenResult,
    open_screen_store,
    screen_counts_file,
    screen_long_file,
    screen_store,
)

__all__ = [
    "ONSET_STATUSES",
    "Checkpoint",
    "FileReport",
    "IgnoredReport",
    "ImportReport",
    "OnsetIntervals",
    "PriorReport",
    "ScreenResult",
    "check_result_path",
    "check_writable",
    "class_onset_comparison",
    "ingest_faers",
    "onset_intervals",
    "onset_summary",
    "open_screen_store",
    "rank",
    "read_result",
    "refresh_drug_map",
    "score_pairs",
    "screen_counts_file",
    "screen_long_file",
    "screen_store",
    "sidecar_path",
    "write_result",
]
