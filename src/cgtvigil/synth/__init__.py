"""Seeded synthetic data for the demo, tests and benchmarks (L3). Documented as synthetic."""

from cgtvigil.synth._faers import SYNTHETIC_NOTICE, SynthConfig, SynthFaersResult, generate_faers
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
    "LtfuCohort",
    "LtfuCohortConfig",
    "LtfuPatient",
    "SynthConfig",
    "SynthFaersResult",
    "TrajectoryConfig",
    "generate_faers",
    "generate_long",
    "simulate_ltfu",
    "simulate_trajectories",
    "wearable_temperature",
    "write_trajectories",
]
