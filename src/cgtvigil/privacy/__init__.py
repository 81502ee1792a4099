"""Pseudonymisation and small-cell suppression (L1)."""

from cgtvigil.privacy._suppression import SUPPRESSED, suppress_small_cells

__all__ = ["SUPPRESSED", "suppress_small_cells"]
