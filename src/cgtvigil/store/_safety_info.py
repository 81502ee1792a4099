"""Loader of the reference safety information (expected events per product): the shipped,
versioned list (``data/reference_safety_information.json``) or a deployment's own file."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from pydantic import ValidationError as PydanticValidationError

from cgtvigil.errors import ValidationError
from cgtvigil.model import ReferenceSafetyInformation, TopicSet

__all__ = ["load_safety_info"]

_FILE = "reference_safety_information.json"


def load_safety_info(path: Path | None = None, *, topics: TopicSet | None = None) -> ReferenceSafetyInformation:
    """The RSI from ``path`` (default: the shipped one); every topic it names must exist in ``topics``."""
    if path is None:
        where = f"cgtvigil:{_FILE}"
        text = resources.files("cgtvigil.store").joinpath("data", _FILE).read_text("utf-8")
    else:
        try:
            text, where = Path(path).read_text("utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError([f"{path}: the reference safety information cannot be read ({exc})."]) from exc
    try:
        rsi = ReferenceSafetyInformation.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ValidationError([f"{where}: not JSON ({exc.msg}, line {exc.lineno})."]) from exc
    except PydanticValidationError as exc:
        raise ValidationError(
            [f"{where}: field '{'.'.join(str(x) for x in e['loc'])}': {e['msg']}" for e in exc.errors()]
        ) from exc
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
