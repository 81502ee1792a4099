"""Long-term follow-up reference data (domain.md §4, §6): the versioned LTFU rule set that turns
a product's flags into a plan, and the jurisdiction table of the ages of majority and assent.
Both are shipped as package data and read by loaders in ``store``; a rule or age that is not
confirmed against its primary source carries ``status="UNCONFIRMED"`` and says so in every
output that uses it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cgtvigil.model._product import Modality, Product

__all__ = ["Jurisdiction", "JurisdictionTable", "LtfuExtra", "LtfuRule", "LtfuRuleSet", "ProductMatch"]

Status = Literal["confirmed", "UNCONFIRMED"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProductMatch(_Frozen):
    """Which products a rule applies to: every given condition must hold (none given: none)."""

    integrating: bool | None = None
    genome_editing: bool | None = None
    latency_capable: bool | None = None
    modality: tuple[Modality, ...] = ()
    products: tuple[str, ...] = Field((), description="product ids")

    def matches(self, product: Product) -> bool:
        checks: list[bool] = []
        for name in ("integrating", "genome_editing", "latency_capable"):
            wanted = getattr(self, name)
            if wanted is not None:
                checks.append(getattr(product, name) is wanted)
        if self.modality:
            checks.append(product.modality in self.modality)
        if self.products:
            checks.append(product.id in self.products)
        return bool(checks) and all(checks)


class LtfuRule(_Frozen):
    """A duration rule: products matching ``when`` are followed for ``years`` years, with a
    yearly examination for the first ``exam_years`` and a yearly contact (visit or
    questionnaire) for the rest."""

    id: str
    when: ProductMatch
    years: int = Field(ge=1, le=30)
    exam_years: int = Field(ge=0, le=30)
    status: Status
    source: str


class LtfuExtra(_Frozen):
    """A product-specific assessment added to the plan (e.g. integration-site analysis twice in
    year 1 then yearly for LVV HSC products): at these months after infusion, then every
    ``then_every_months`` up to the end of the plan (0: no repeat)."""

    id: str
    when: ProductMatch
    kind: str = Field(description="visit kind, e.g. integration_site_analysis, cbc")
    months: tuple[int, ...]
    then_every_months: int = Field(0, ge=0)
    status: Status
    source: str


class LtfuRuleSet(_Frozen):
    """A version of the LTFU rules. A new version re-plans visits not yet open; visits made by
    an earlier version keep its version."""

    version: str
    rules: tuple[LtfuRule, ...]
    extras: tuple[LtfuExtra, ...] = ()
    window_before_days: int = Field(30, ge=0)
    window_after_days: int = Field(60, ge=0)
    extra_window_days: int = Field(30, ge=0, description="window either side of a product extra")
    lost_after_missed: int = Field(2, ge=1, description="consecutive missed visits that make a patient lost")
    notes: str = ""


class Jurisdiction(_Frozen):
    """The age of majority and the usual assent age of one jurisdiction (state or country)."""

    code: str = Field(description="e.g. US-AL, US, GB, DE")
    name: str
    majority_age: int = Field(ge=14, le=25)
    assent_age: int = Field(ge=0, le=18)
    status: Status
    source: str
    effective: str | None = None


class JurisdictionTable(_Frozen):
    """Ages per jurisdiction; ``default`` applies to a jurisdiction not in the table (and is
    then reported as UNCONFIRMED); reconsent_lead_days is how early a re-consent task is raised."""

    version: str
    default: str
    reconsent_lead_days: int = Field(90, ge=0)
    jurisdictions: tuple[Jurisdiction, ...]

    def lookup(self, code: str | None) -> tuple[Jurisdiction, bool]:
        """The entry of ``code`` (or of its country: ``US-XX`` falls back to ``US``), and
        whether it is the default used for an unknown jurisdiction."""
        by_code = {j.code.upper(): j for j in self.jurisdictions}
        key = (code or "").upper()
        for candidate in (key, key.split("-")[0]):
            if candidate in by_code:
                return by_code[candidate], False
        return by_code[self.default.upper()], True
