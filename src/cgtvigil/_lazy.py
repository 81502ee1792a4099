"""Lazy package exports (PEP 562): a package's names are imported from its modules on first use.

A command imports what it uses and no more: the screen of a long file needs the DuckDB side of
the store, not SQLAlchemy, Alembic and the operational models, and not the FAERS ingest.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    namespace: dict[str, Any], exports: Mapping[str, str], *, together: Collection[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of the package whose ``globals()`` is ``namespace``
    and whose name ``n`` lives in its module ``exports[n]`` (such as ``"_screen"``). The modules
    of ``together`` are imported as one, whichever of their names is asked for (the SQLAlchemy
    models of one metadata, whose relationships name each other's classes)."""
    package = namespace["__name__"]

    def load(module: str) -> Any:
        if module in together:
            for other in together:
                importlib.import_module(f"{package}.{other}")
        return importlib.import_module(f"{package}.{module}")

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(load(module), name)
        namespace[name] = value  # once imported, a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
