"""The lazy packages (PEP 562, ``cgtvigil._lazy``): each name comes from the module its
package says, the type checker's imports say the same, and a screen does not import the
operational store, SQLAlchemy, Alembic or the FAERS ingest (issue 17)."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

LAZY = ("cgtvigil.store", "cgtvigil.screening", "cgtvigil.ingest")


def _type_checking_imports(package: str) -> dict[str, str]:
    """Name -> module of the ``if TYPE_CHECKING:`` imports of a package's ``__init__``."""
    module = importlib.import_module(package)
    tree = ast.parse(Path(str(module.__file__)).read_text("utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "typing.TYPE_CHECKING")
    return {
        alias.name: str(node.module).removeprefix(package + ".")
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


@pytest.mark.parametrize("package", LAZY)
def test_every_name_comes_from_its_module(package: str) -> None:
    module = importlib.import_module(package)
    exports = module._EXPORTS
    assert set(exports) == set(module.__all__)
    assert _type_checking_imports(package) == exports  # what mypy sees is what runs
    for name, where in exports.items():
        assert getattr(module, name) is getattr(importlib.import_module(f"{package}.{where}"), name)
    assert set(exports) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        module.not_a_name  # noqa: B018


def _loaded_after(code: str) -> dict[str, object]:
    probe = (
        f"{code}\nimport json, sys\n"
        "print(json.dumps({'modules': sorted(sys.modules), "
        "'tables': sorted(sys.modules['cgtvigil.store'].__dict__['Base'].metadata.tables) "
        "if 'Base' in sys.modules['cgtvigil.store'].__dict__ else []}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    result: dict[str, object] = json.loads(out)
    return result


def test_a_screen_imports_neither_the_operational_store_nor_the_ingest() -> None:
    modules = _loaded_after("from cgtvigil.screening import screen_counts_file, screen_long_file, screen_store")[
        "modules"
    ]
    assert isinstance(modules, list)
    heavy = [m for m in modules if m.split(".")[0] in ("sqlalchemy", "alembic") or m.startswith("cgtvigil.ingest")]
    assert heavy == []
    assert "cgtvigil.store._operational" not in modules
    assert "cgtvigil.screening._features" not in modules


def test_any_operational_name_brings_every_table() -> None:
    """``Base`` alone would know only the tables of the modules imported so far: the SQLAlchemy
    modules of the store are imported together."""
    alone = _loaded_after("from cgtvigil.store import Base")
    whole = _loaded_after("import cgtvigil.store as s\nfor n in s.__all__: getattr(s, n)")
    assert alone["tables"] == whole["tables"]
    assert isinstance(alone["tables"], list) and {"signal", "ltfu_site"} <= set(alone["tables"])
