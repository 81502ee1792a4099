"""Settings, read once at the top (L5) and passed down as arguments."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """Where cgtvigil keeps its files. Environment: CGTVIGIL_DB, CGTVIGIL_OUTPUT,
    CGTVIGIL_OPERATIONAL_URL (SQLAlchemy URL of the operational store)."""

    db: Path = Path("cgtvigil.duckdb")
    output_dir: Path = Path("cgtvigil-output")
    operational_url: str = "sqlite:///cgtvigil-operational.db"

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            db=Path(os.environ.get("CGTVIGIL_DB", "cgtvigil.duckdb")),
            output_dir=Path(os.environ.get("CGTVIGIL_OUTPUT", "cgtvigil-output")),
            operational_url=os.environ.get("CGTVIGIL_OPERATIONAL_URL", "sqlite:///cgtvigil-operational.db"),
        )
