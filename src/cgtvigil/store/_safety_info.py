"""Loader of the reference safety information (expected events per product): the shipped,
versioned list (``data/reference_safety_information.json``) or a deployment's own file."""

from __future__ import annotations

from pathlib import Path

from cgtvigil._validation import read_json_model
from cgtvigil.errors import ValidationError
from cgtvigil.model import ReferenceSafetyInformation, TopicSet

__all__ = ["load_safety_info"]

_FILE = "reference_safety_information.json"


def load_safety_info(path: Path | None = None, *, topics: TopicSet | None = None) -> ReferenceSafetyInformation:
    """The RSI from ``path`` (default: the shipped one); every topic it names must exist in ``topics``."""
    rsi, where = read_json_model(ReferenceSafetyInformation, path, package="cgtvigil.store", name=_FILE)
    problems = [
        f"{where}: product {p.product_id!r}: an expected event needs exactly one of 'topic' and 'pt'"
        for p in rsi.products
        for x in p.expected
        if (x.topic is None) == (x.pt is None)
    ]
    if topics is not None:
        known = {t.id for t in topics.topics}
        problems += [
            f"{where}: product {p.product_id!r}: unknown topic {x.topic!r} (known: {', '.join(sorted(known))})"
            for p in rsi.products
            for x in p.expected
            if x.topic is not None and x.topic not in known
        ]
    if problems:
        raise ValidationError(problems)
    return rsi
