"""Reference safety information (RSI): per product, the events that are expected (listed in the
label's boxed warning or warnings), as safety topics or preferred-term names; what decides a
case's expectedness (ICH E2A). A versioned, editable list; entries not checked against the
current label are marked ``confirmed = False`` and reported as unconfirmed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ExpectedEvent", "ProductSafetyInfo", "ReferenceSafetyInformation"]


class ExpectedEvent(BaseModel):
    """One expected event: a safety topic id (all its preferred terms) or one PT name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str | None = Field(None, description="a safety topic id (topics.json)")
    pt: str | None = Field(None, description="a MedDRA preferred-term name")
    source: str = Field(description="where the label lists it (e.g. 'BW', 'Warnings 5.3')")
    confirmed: bool = Field(description="False: general knowledge, not checked against the current label")


class ProductSafetyInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: str
    label_version: str = Field(description="the label (USPI/SmPC) version the list follows")
    expected: tuple[ExpectedEvent, ...]


class ReferenceSafetyInformation(BaseModel):
    """The RSI of every product, versioned as a whole."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    notice: str = ""
    products: tuple[ProductSafetyInfo, ...]

    def for_product(self, product_id: str) -> ProductSafetyInfo | None:
        return next((p for p in self.products if p.product_id == product_id), None)
