"""Every package's ``__all__`` is complete and importable (conventions.md §2); ruff (RUF022)
keeps it sorted."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import cgtvigil

PACKAGES = sorted(m.name for m in pkgutil.iter_modules(cgtvigil.__path__, "cgtvigil.") if m.ispkg)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    for item in exported:
        assert hasattr(module, item), f"{name}.__all__ names {item!r}, which does not exist"
    public = {
        k
        for k, v in vars(module).items()
        if not k.startswith("_") and not inspect.ismodule(v) and getattr(v, "__module__", name).startswith(name)
    }
    assert public <= set(exported), f"{name} has public names missing from __all__: {sorted(public - set(exported))}"


def test_expected_packages_exist() -> None:
    for pkg in (
        "cgtvigil.model",
        "cgtvigil.signals",
        "cgtvigil.ingest",
        "cgtvigil.store",
        "cgtvigil.engine",
        "cgtvigil.screening",
    ):
        assert pkg in PACKAGES
