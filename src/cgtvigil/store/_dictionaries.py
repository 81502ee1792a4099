"""Loaders of the shipped, versioned reference data (product dictionary, safety topics) and
of user-supplied topic files."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from pydantic import ValidationError as PydanticValidationError

from cgtvigil._validation import read_json_model
from cgtvigil.errors import ValidationError
from cgtvigil.model import JurisdictionTable, LtfuRuleSet, ProductDictionary, TopicSet

__all__ = ["load_jurisdictions", "load_ltfu_rules", "load_products", "load_topics"]


def _read(path: Path | None, default: str) -> tuple[str, str]:
    if path is None:
        return resources.files("cgtvigil.store").joinpath("data", default).read_text("utf-8"), f"cgtvigil:{default}"
    try:
        return Path(path).read_text("utf-8"), str(path)
    except UnicodeDecodeError as exc:
        raise ValidationError([f"{path}: not UTF-8 text (byte {exc.start})."]) from exc


def _problems(exc: PydanticValidationError, where: str) -> ValidationError:
    return ValidationError([f"{where}: field '{'.'.join(str(x) for x in e['loc'])}': {e['msg']}" for e in exc.errors()])


def load_products(path: Path | None = None) -> ProductDictionary:
    """The shipped CGT product dictionary, or one from ``path``."""
    return read_json_model(ProductDictionary, path, package="cgtvigil.store", name="products.json")[0]


def load_ltfu_rules(path: Path | None = None) -> LtfuRuleSet:
    """The shipped long-term follow-up rule set (issue 12), or one from ``path``."""
    return read_json_model(LtfuRuleSet, path, package="cgtvigil.store", name="ltfu_rules.json")[0]


def load_jurisdictions(path: Path | None = None) -> JurisdictionTable:
    """The shipped table of the ages of majority and assent (issue 12), or one from ``path``."""
    table, where = read_json_model(JurisdictionTable, path, package="cgtvigil.store", name="jurisdictions.json")
    if table.default.upper() not in {j.code.upper() for j in table.jurisdictions}:
        raise ValidationError([f"{where}: the default {table.default!r} is not one of the jurisdictions."])
    return table


def load_topics(path: Path | None = None, *, extra: list[Path] | None = None) -> TopicSet:
    """The shipped CGT safety topics (or those in ``path``), plus user topic files."""
    text, where = _read(path, "topics.json")
    try:
        topics = TopicSet.model_validate(json.loads(text))
        for p in extra or []:
            where = str(p)  # problems below name the user's file, not the shipped one
            try:
                data = json.loads(Path(p).read_text("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ValidationError([f"{p}: not a UTF-8 JSON topic file ({exc})."]) from exc
            more = TopicSet.model_validate(data)
            clash = {t.id for t in topics.topics} & {t.id for t in more.topics}
            if clash:
                raise ValidationError([f"{p}: topic id(s) {sorted(clash)} already exist; choose other ids."])
            topics = TopicSet(
                version=f"{topics.version}+{more.version}", notice=topics.notice, topics=topics.topics + more.topics
            )
    except PydanticValidationError as exc:
        raise _problems(exc, where) from exc
    return topics
