"""One grammar for validation messages, and a collector that reports every problem at once.

Message form: "The 'alpha' parameter of prr must be a float in (0, 1). Got 1.5."
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cgtvigil.errors import ValidationError

__all__ = ["Problems", "check_in", "check_interval", "param_message"]


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
