"""Seeded synthetic data for the demo, tests and benchmarks (L3). Documented as synthetic."""

from cgtvigil.synth._faers import SYNTHETIC_NOTICE, SynthConfig, SynthFaersResult, generate_faers
from cgtvigil.synth._history import (
    HistoryConfig,
    HistoryQuarter,
    HistoryResult,
    generate_history,
    history_quarters,
    iter_history,
)
from cgtvigil.synth._long import generate_long
from cgtvigil.synth._ltfu import LTFU_SITES, ClonalExpansion, LtfuCohort, LtfuCohortConfig, LtfuPatient, simulate_ltfu
from cgtvigil.synth._trajectories import (
    TrajectoryConfig,
    simulate_trajectories,
    wearable_temperature,
    write_trajectories,
)

__all__ = [
    "LTFU_SITES",
    "SYNTHETIC_NOTICE",
    "ClonalExpansion",
    "HistoryConfig",
    "HistoryQuarter",
    "HistoryResult",
    "LtfuCohort",
    "LtfuCohortConfig",
    "LtfuPatient",
    "SynthConfig",
    "SynthFaersResult",
    "TrajectoryConfig",
    "generate_faers",
    "generate_history",
    "generate_long",
    "history_quarters",
    "iter_history",
    "simulate_ltfu",
    "simulate_trajectories",
    "wearable_temperature",
    "write_trajectories",
]
