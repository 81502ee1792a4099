"""Cell and gene therapy product master data (domain.md §3)."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Modality", "Product", "ProductDictionary", "normalise_name"]


class Modality(StrEnum):
    CAR_T = "CAR-T"
    TCR_T = "TCR-T"
    TIL = "TIL"
    AAV_IN_VIVO = "AAV-in-vivo"
    LVV_EX_VIVO_HSC = "LVV-ex-vivo-HSC"
    GAMMA_RV = "gRV"
    GENOME_EDITED = "genome-edited"
    ONCOLYTIC = "oncolytic"
    NON_GM_CELL = "non-GM cell"
    OTHER_VECTOR = "other-vector"


_SPACES = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s\-/]")


def normalise_name(text: str) -> str:
    """Canonical matching key: NFKC, upper case, punctuation to space, single spaces.

    Examples
    --------
    >>> normalise_name("  Kymriah®  (tisagenlecleucel) ")
    'KYMRIAH TISAGENLECLEUCEL'
    """
    text = unicodedata.normalize("NFKC", text).upper()
    text = _PUNCT.sub(" ", text).replace("-", " ").replace("/", " ")
    return _SPACES.sub(" ", text).strip()


class Product(BaseModel):
    """One approved CGT product. Fields listed in ``unconfirmed`` are general knowledge,
    not checked against the label, and are reported as unverified."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    brand: str
    generic: str
    other_brands: tuple[str, ...] = ()
    development_codes: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()
    sponsor: str
    modality: Modality
    product_class: str = Field(description="comparison class, e.g. 'CD19 CAR-T', 'AAV', 'LVV HSC'")
    target: str | None = None
    vector: str | None = None
    integrating: bool
    genome_editing: bool
    replication_competent: bool = False
    latency_capable: bool = False
    additional_monitoring: bool = Field(description="EU black triangle (additional monitoring)")
    paediatric: bool
    ltfu_years: int | None = None
    boxed_warnings: tuple[str, ...] = ()
    us_approval: str | None = None
    unconfirmed: tuple[str, ...] = ()
    notes: str = ""

    def names(self) -> list[str]:
        """Every name a reporter may use for this product, before normalisation."""
        names = [self.brand, self.generic, *self.other_brands, *self.development_codes, *self.synonyms]
        # INN without its suffix word ("axicabtagene" for "axicabtagene ciloleucel").
        first = self.generic.split()[0]
        if len(first) >= 8:
            names.append(first)
        return names


class ProductDictionary(BaseModel):
    """A versioned set of products with a name index."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    products: tuple[Product, ...]

    def by_id(self) -> dict[str, Product]:
        return {p.id: p for p in self.products}

    def name_index(self) -> dict[str, str]:
        """Normalised name -> product id. Ambiguous names are left out."""
        index: dict[str, str] = {}
        clash: set[str] = set()
        for p in self.products:
            for name in p.names():
                key = normalise_name(name)
                if key in index and index[key] != p.id:
                    clash.add(key)
                index[key] = p.id
        for key in clash:
            del index[key]
        return index
