"""The reporting deadlines as versioned data (domain.md §8.2): which rule gives a case its clock
(7-day fatal or life-threatening study case with its 8-day follow-up, 15-day, EU serious and EU
non-serious ICSRs), read from the shipped ``data/reporting_clock.json`` or a deployment's own
file. A rule not checked against its primary text is ``confirmed: false`` and every clock that
uses it says UNCONFIRMED."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cgtvigil._validation import read_json_model
from cgtvigil.errors import ValidationError

__all__ = ["ClockRule", "ClockRules", "FollowUpRule", "RuleConditions", "load_clock_rules"]


class RuleConditions(BaseModel):
    """What must hold of a case's assessment for a rule to apply (an absent condition: any)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    serious: bool | None = None
    unexpected_serious: bool | None = None
    fatal_or_life_threatening: bool | None = None
    study: bool | None = Field(None, description="C.1.3 = 2 (report from a study)")
    eea: bool | None = Field(None, description="the reaction occurred in the EEA (E.i.9, else the reporter's country)")

    def holds(self, facts: dict[str, bool]) -> bool:
        return all(want is None or facts[name] is want for name, want in self.model_dump().items())


class FollowUpRule(BaseModel):
    """A second report due ``days`` after the first deadline (e.g. the complete report of a 7-day case)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=32)
    label: str
    days: int = Field(ge=1, le=3650)
    confirmed: bool
    source: str


class ClockRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=32)
    label: str
    when: RuleConditions
    days: int = Field(ge=1, le=3650, description="calendar days from day 0")
    confirmed: bool
    source: str
    follow_up: FollowUpRule | None = None


class ClockRules(BaseModel):
    """The rule set; the first rule whose conditions hold gives a case's clock."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, max_length=64)
    note: str = ""
    eea_countries: frozenset[str]
    eea_confirmed: bool = False
    rules: tuple[ClockRule, ...]

    def rule_for(self, facts: dict[str, bool]) -> ClockRule | None:
        """The first rule whose conditions hold of ``facts`` (None: no report is due)."""
        return next((r for r in self.rules if r.when.holds(facts)), None)

    def in_eea(self, countries: list[str]) -> bool:
        return any(c.upper() in self.eea_countries for c in countries)


def load_clock_rules(path: Path | None = None) -> ClockRules:
    """The shipped reporting clock rules, or a deployment's own from ``path``.

    Examples
    --------
    >>> rules = load_clock_rules()
    >>> [(r.id, r.days, r.confirmed) for r in rules.rules][:2]
    [('SUSAR-7', 7, True), ('EXPEDITED-15', 15, True)]
    >>> rules.rules[0].follow_up.days, rules.rules[0].follow_up.confirmed
    (8, False)
    """
    rules, where = read_json_model(ClockRules, path, package="cgtvigil.cases", name="reporting_clock.json")
    ids = [r.id for r in rules.rules] + [r.follow_up.id for r in rules.rules if r.follow_up]
    problems = [
        f"{where}: field 'rules': rule id {i!r} is used more than once" for i in sorted(set(ids)) if ids.count(i) > 1
    ]
    if not rules.rules:
        problems.append(f"{where}: field 'rules': at least one rule is needed")
    if problems:
        raise ValidationError(problems)
    return rules
