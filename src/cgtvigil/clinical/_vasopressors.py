"""Vasopressor names: a shipped, versioned synonym list, so that two names of one drug count as
one vasopressor in ASTCT CRS grading (domain.md §1.1 rules 3-4).

Names are matched case-insensitively after removing salt and form words ("bitartrate",
"hydrochloride", "infusion", ...). A name that is not on the list is counted as its own agent
and the CRS result says so; it is never silently merged or dropped.
"""

from __future__ import annotations

import re

__all__ = ["VASOPRESSOR_SYNONYMS", "VASOPRESSOR_SYNONYMS_VERSION", "normalise_vasopressor"]

VASOPRESSOR_SYNONYMS_VERSION = "cgtvigil-vasopressors-1"

# international non-proprietary name -> other names (INN/BAN variants, US brand names, common
# ward abbreviations that are not ambiguous).
VASOPRESSOR_SYNONYMS: dict[str, tuple[str, ...]] = {
    "norepinephrine": ("noradrenaline", "noradrenalin", "levarterenol", "levophed", "norepi", "noradr"),
    "epinephrine": ("adrenaline", "adrenalin", "epi", "l-epinephrine"),
    "vasopressin": ("argipressin", "arginine vasopressin", "pitressin", "vasostrict", "avp", "adh"),
    "phenylephrine": ("neo-synephrine", "neosynephrine", "biorphen", "phenylephrin"),
    "dopamine": ("intropin", "dopamin"),
    "angiotensin ii": ("angiotensin 2", "giapreza", "angiotensin"),
    "metaraminol": ("aramine",),
    "ephedrine": ("akovaz", "corphedra", "rezipres"),
}

_SALTS = re.compile(
    r"\b(bitartrate|tartrate|hydrochloride|hcl|acetate|sulfate|sulphate|acid|base|injection|infusion|"
    r"iv|drip|usp)\b"
)
_LOOKUP = {" ".join(name.split()): inn for inn, names in VASOPRESSOR_SYNONYMS.items() for name in (inn, *names)}


def normalise_vasopressor(name: str) -> tuple[str, bool]:
    """(international name, whether the name is on the list) for a vasopressor name.

    Examples
    --------
    >>> normalise_vasopressor("Levophed"), normalise_vasopressor("noradrenaline bitartrate")
    (('norepinephrine', True), ('norepinephrine', True))
    >>> normalise_vasopressor("Droxidopa")
    ('droxidopa', False)
    """
    text = " ".join(_SALTS.sub(" ", name.strip().lower().replace("_", " ")).split())
    inn = _LOOKUP.get(text)
    return (inn, True) if inn is not None else (text, False)
