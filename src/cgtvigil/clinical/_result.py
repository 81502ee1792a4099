"""The result every grading and scoring function returns."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GradeResult", "decided"]


class GradeResult(BaseModel):
    """A grade (or score) with the criteria version, the criterion that drove it and the
    inputs used. ``grade`` is None when the input is not gradable; ``missing`` then says why."""

    model_config = ConfigDict(frozen=True)

    scheme: str
    version: str
    grade: int | None
    value: float | None = Field(None, description="the score's value, for scores (HScore, EASIX, ...)")
    category: str | None = Field(None, description="e.g. 'high risk', 'criteria met', 'indeterminate'")
    driver: str = Field("", description="the criterion that set the grade")
    inputs: dict[str, Any] = Field(default_factory=dict)
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    verified: bool = True

    @property
    def gradable(self) -> bool:
        return self.grade is not None or self.value is not None or self.category is not None

    def explain(self) -> str:
        """One human-readable paragraph."""
        head = f"{self.scheme} ({self.version})"
        if not self.gradable:
            text = f"{head}: not gradable; missing: {', '.join(self.missing) or 'input'}."
        else:
            parts = []
            if self.grade is not None:
                parts.append(f"grade {self.grade}")
            if self.value is not None:
                parts.append(f"value {self.value:g}")
            if self.category:
                parts.append(self.category)
            text = f"{head}: {', '.join(parts)}" + (f" — {self.driver}." if self.driver else ".")
            if self.missing:
                text += f" Missing: {', '.join(self.missing)}."
        for note in self.notes:
            text += f" Note: {note}"
        if not self.verified:
            text += " UNVERIFIED: these criteria are not confirmed against their primary source."
        return text


def decided(value: float, *cutoffs: float) -> str:
    """``value`` as text with the precision that decides it: the shortest form (from 4
    significant digits up) that lies on the same side of every cut-off as the value itself,
    so that 37.95 is never shown as "38.0" next to a 38.0 cut-off.

    Examples
    --------
    >>> decided(37.95, 38.0), decided(37.99999999, 38.0), decided(120.0, 90.0)
    ('37.95', '37.99999999', '120')
    """
    for digits in range(4, 18):
        text = f"{value:.{digits}g}"
        shown = float(text)
        if all((shown < c) == (value < c) and (shown > c) == (value > c) for c in cutoffs):
            return text
    return repr(value)
