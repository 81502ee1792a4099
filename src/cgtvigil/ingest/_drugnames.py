"""Drug-name normalisation (formats.md §8.3): map FAERS ``drugname``/``prod_ai`` to the CGT
product dictionary; every other drug keeps a cleaned active-ingredient name, never vanishes.

Rules, in order (the first that applies wins; the method is recorded):
1. ``product_exact``: the whole normalised drugname, or a part of a "brand (generic)" form,
   is a product name, INN or development code.
2. ``product_prod_ai``: ``prod_ai`` is a product's INN.
3. ``product_token``: a product name of 8+ characters (or a development code) occurs as
   whole words inside the drugname ("KYMRIAH 0.6-6.0X10E8 CELLS").
4. ``prod_ai``: the ingredients of ``prod_ai`` (FDA's mapping), salts removed, joined by "/".
5. ``drugname``: the drugname cleaned of strengths, forms and parentheses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pyarrow as pa

from cgtvigil.model import ProductDictionary, normalise_name

__all__ = ["DrugNormaliser", "clean_ingredient"]

_SALTS = {
    "HYDROCHLORIDE",
    "HCL",
    "DIHYDROCHLORIDE",
    "SODIUM",
    "POTASSIUM",
    "CALCIUM",
    "MAGNESIUM",
    "SULFATE",
    "SULPHATE",
    "MESYLATE",
    "MESILATE",
    "MALEATE",
    "FUMARATE",
    "SUCCINATE",
    "TARTRATE",
    "BITARTRATE",
    "CITRATE",
    "ACETATE",
    "PHOSPHATE",
    "BESYLATE",
    "BESILATE",
    "BROMIDE",
    "CHLORIDE",
    "HYDROBROMIDE",
    "NITRATE",
    "LACTATE",
    "GLUCONATE",
    "PROPIONATE",
    "DIPROPIONATE",
    "VALERATE",
    "HYCLATE",
    "MONOHYDRATE",
    "DIHYDRATE",
    "TRIHYDRATE",
    "HEMIHYDRATE",
    "ANHYDROUS",
    "S",
    "MALATE",
    "PROPANEDIOL",
    "TROMETHAMINE",
    "ETEXILATE",
    "DISODIUM",
    "MEGLUMINE",
    "XINAFOATE",
    "FUROATE",
    "PAMOATE",
    "DECANOATE",
    "ENANTHATE",
    "CYPIONATE",
    "TOSYLATE",
    "ESYLATE",
    "OLAMINE",
}
_DOSE = re.compile(
    r"\b\d+([.,]\d+)?\s*(MG|MCG|UG|G|ML|IU|UNITS?|%|MMOL|MEQ|MG/ML|MCG/ML)\b|"
    r"\b(TABLETS?|TABS?|CAPSULES?|CAPS?|INJECTION|SOLUTION|SUSPENSION|CREAM|OINTMENT|PATCH|"
    r"ORAL|INTRAVENOUS|IV|SC|PEN|SYRINGE|VIAL|EXTENDED RELEASE|ER|XR|SR|DR|CR|FORMULATION UNKNOWN|"
    r"UNKNOWN FORMULATION|NOS)\b"
)
_PAREN = re.compile(r"\(([^()]*)\)?")


def clean_ingredient(prod_ai: str) -> str:
    """Ingredient label from FDA's ``prod_ai``: parts split on '\\', salts removed, lower
    case, sorted and joined by '/'.

    Examples
    --------
    >>> clean_ingredient("ACETAMINOPHEN\\\\HYDROCODONE BITARTRATE")
    'acetaminophen/hydrocodone'
    """
    parts = [_strip_salts(normalise_name(part)) for part in prod_ai.split("\\")]
    return "/".join(sorted({p.lower() for p in parts if p}))


def _strip_salts(key: str) -> str:
    """Drop salt and hydrate words from the end, never down to nothing ('SODIUM CHLORIDE'
    stays whole)."""
    words = key.split()
    if all(w in _SALTS for w in words):
        return key
    while words[-1] in _SALTS:
        words.pop()
    return " ".join(words)


def _clean_drugname(name: str) -> str:
    return _strip_salts(normalise_name(_DOSE.sub(" ", name.upper()))).lower()


class DrugNormaliser:
    """Map (drugname, prod_ai) pairs to a drug label, an optional product id and a method."""

    def __init__(self, products: ProductDictionary) -> None:
        self.products = products
        self._index = products.name_index()
        self._brand = {p.id: p.brand for p in products.products}
        tokens = sorted(
            (k for k, pid in self._index.items() if len(k) >= 8 or any(ch.isdigit() for ch in k)), key=len, reverse=True
        )
        self._token_re = re.compile(r"\b(" + "|".join(re.escape(t) for t in tokens) + r")\b") if tokens else None

    def normalise(self, drugname: str | None, prod_ai: str | None) -> tuple[str, str | None, str]:
        """(drug label, product id or None, method)."""
        name = (drugname or "").strip()
        ai = (prod_ai or "").strip()
        key = normalise_name(name)
        candidates = [key]
        m = _PAREN.search(name)
        if m:
            candidates += [normalise_name(name[: m.start()]), normalise_name(m.group(1))]
        for c in candidates:
            pid = self._index.get(c)
            if pid:
                return self._brand[pid], pid, "product_exact"
        if ai:
            pid = self._index.get(normalise_name(ai))
            if pid:
                return self._brand[pid], pid, "product_prod_ai"
        if self._token_re is not None:
            for text in (key, normalise_name(ai)):
                t = self._token_re.search(text)
                if t:
                    pid = self._index[t.group(1)]
                    return self._brand[pid], pid, "product_token"
        if ai:
            label = clean_ingredient(ai)
            if label:
                return label, None, "prod_ai"
        inner = _PAREN.search(name)
        base = name[: inner.start()] if inner and inner.start() > 0 else name
        label = _clean_drugname(base) or key.lower()
        return (label or "(blank)"), None, "drugname"

    def map_table(self, pairs: Iterable[tuple[str | None, str | None]]) -> pa.Table:
        """The ``drug_map`` table for distinct (drugname, prod_ai) pairs."""
        cols: dict[str, list[object]] = {"drugname": [], "prod_ai": [], "drug": [], "product_id": [], "method": []}
        for drugname, prod_ai in pairs:
            label, pid, method = self.normalise(drugname, prod_ai)
            cols["drugname"].append(drugname)
            cols["prod_ai"].append(prod_ai)
            cols["drug"].append(label)
            cols["product_id"].append(pid)
            cols["method"].append(method)
        return pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})
