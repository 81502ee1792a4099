"""One grammar for validation messages, and a collector that reports every problem at once.

Message form: "The 'alpha' parameter of prr must be a float in (0, 1). Got 1.5."
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from cgtvigil.errors import ValidationError

__all__ = ["Problems", "check_in", "check_interval", "param_message", "read_json_model"]

M = TypeVar("M", bound=BaseModel)


def read_json_model(model: type[M], path: Path | None, *, package: str, name: str) -> tuple[M, str]:
    """``model`` read from the JSON file ``path``, or from the package's shipped ``data/name``,
    and where it came from. Every failure is one message naming the file: unreadable, not
    UTF-8 text, not JSON (with its line), or each field that does not fit."""
    if path is None:
        where = f"cgtvigil:{name}"
        text = resources.files(package).joinpath("data", name).read_text("utf-8")
    else:
        where = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ValidationError([f"{where}: cannot be read ({exc.strerror or exc})."]) from exc
        except UnicodeDecodeError as exc:
            raise ValidationError([f"{where}: not UTF-8 text (byte {exc.start})."]) from exc
    try:
        return model.model_validate(json.loads(text)), where
    except json.JSONDecodeError as exc:
        raise ValidationError([f"{where}: not JSON ({exc.msg}, line {exc.lineno})."]) from exc
    except PydanticValidationError as exc:
        raise ValidationError(
            [f"{where}: field '{'.'.join(str(x) for x in e['loc'])}': {e['msg']}" for e in exc.errors()]
        ) from exc


def param_message(name: str, owner: str, expected: str, got: Any) -> str:
    """Build the standard message for a parameter that is not what was expected."""
    return f"The '{name}' parameter of {owner} must be {expected}. Got {got!r}."


class Problems:
    """Collect validation problems and raise them together.

    Examples
    --------
    >>> p = Problems()
    >>> p.add("The 'x' parameter of f must be positive. Got -1.")
    >>> p.raise_if_any()
    Traceback (most recent call last):
    ...
    cgtvigil.errors.ValidationError: The 'x' parameter of f must be positive. Got -1.
    """

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def extend(self, messages: Iterable[str]) -> None:
        self.items.extend(messages)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationError(self.items)


def check_interval(value: float, name: str, owner: str, low: float, high: float, problems: Problems) -> None:
    """Require ``low < value < high`` (an open interval)."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not low < value < high:
        problems.add(param_message(name, owner, f"a float in ({low:g}, {high:g})", value))


def check_in(value: object, name: str, owner: str, allowed: Iterable[object], problems: Problems) -> None:
    """Require ``value`` to be one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        problems.add(param_message(name, owner, f"one of {options}", value))
