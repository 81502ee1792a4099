"""Seeded synthetic data for the demo, tests and benchmarks (L3). Documented as synthetic."""

from cgtvigil.synth._faers import SYNTHETIC_NOTICE, SynthConfig, SynthFaersResult, generate_faers
from cgtvigil.synth._long import generate_long

__all__ = ["SYNTHETIC_NOTICE", "SynthConfig", "SynthFaersResult", "generate_faers", "generate_long"]
