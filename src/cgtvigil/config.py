"""Settings, read once at the top (L5) and passed down as arguments."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """Where cgtvigil keeps its files. Environment: CGTVIGIL_DB, CGTVIGIL_OUTPUT,
    CGTVIGIL_OPERATIONAL_URL (SQLAlchemy URL of the operational store), CGTVIGIL_SCREEN_RESULT
    (the screen shown on the signals page), CGTVIGIL_SECRET_KEY (session signing key)."""

    db: Path = Path("cgtvigil.duckdb")
    output_dir: Path = Path("cgtvigil-output")
    operational_url: str = "sqlite:///cgtvigil-operational.db"
    screen_result: Path = Path("cgtvigil-output/demo/cgt_screen.parquet")
    secret_key: str = ""  # signs session cookies; empty: a random key per process (log-ins end on restart)
    forecast_model: Path | None = None  # a model from `cgtvigil forecast fit`, shown on patient pages

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            db=Path(os.environ.get("CGTVIGIL_DB", "cgtvigil.duckdb")),
            output_dir=Path(os.environ.get("CGTVIGIL_OUTPUT", "cgtvigil-output")),
            operational_url=os.environ.get("CGTVIGIL_OPERATIONAL_URL", "sqlite:///cgtvigil-operational.db"),
            screen_result=Path(os.environ.get("CGTVIGIL_SCREEN_RESULT", "cgtvigil-output/demo/cgt_screen.parquet")),
            secret_key=os.environ.get("CGTVIGIL_SECRET_KEY", ""),
            forecast_model=Path(os.environ["CGTVIGIL_FORECAST_MODEL"])
            if os.environ.get("CGTVIGIL_FORECAST_MODEL")
            else None,
        )
