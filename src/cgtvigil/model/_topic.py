"""Safety topics: named groups of MedDRA preferred-term names (no codes, no hierarchy)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SafetyTopic", "TopicSet"]


class SafetyTopic(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    description: str = ""
    preferred_terms: tuple[str, ...] = ()
    meddra_groups: tuple[str, ...] = Field(
        (), description="HLT, HLGT or SOC names whose PTs are added from the user's licensed MedDRA release"
    )
    source: str = "cgtvigil curated list of public FAERS PT names"

    def keys(self) -> set[str]:
        """PT names as matching keys (case-insensitive)."""
        return {pt.strip().upper() for pt in self.preferred_terms}


class TopicSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    notice: str = ""
    topics: tuple[SafetyTopic, ...]

    def pt_to_topics(self) -> list[tuple[str, str]]:
        """(upper-case PT name, topic id) rows for joining with report events."""
        return sorted({(pt, t.id) for t in self.topics for pt in t.keys()})
