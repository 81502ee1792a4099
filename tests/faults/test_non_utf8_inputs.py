"""A file that is not UTF-8 text, given to a new CLI option or loader, is one clear message
naming the file, not a UnicodeDecodeError traceback (found in the session-3 review)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cgtvigil.cli import app
from cgtvigil.errors import ParseError, ValidationError
from cgtvigil.signal_management import load_timelines
from cgtvigil.store import load_ltfu_rules, load_watchlist

runner = CliRunner()


@pytest.fixture
def latin1(tmp_path: Path) -> Path:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"note": "Müller"}'.encode("latin-1"))
    return path


def test_loaders_name_the_file(latin1: Path) -> None:
    for load in (load_ltfu_rules, load_timelines):
        with pytest.raises(ValidationError, match=r"latin1\.json: .*not UTF-8 text"):
            load(latin1)
    with pytest.raises(ParseError, match=r"latin1\.json: the file is not UTF-8 text"):  # a watch-list CSV
        load_watchlist("hg38", latin1)


@pytest.mark.parametrize(
    "args",
    [
        ["risk", "edit", "kymriah", "--note", "x", "--file"],
        ["followup", "record", "1", "--done-on", "2026-01-01", "--form"],
        ["followup", "plan", "--rules"],
        ["reports", "pbrer", "--spec"],
    ],
)
def test_cli_one_message(args: list[str], latin1: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", f"sqlite:///{tmp_path / 'op.db'}")
    monkeypatch.setenv("CGTVIGIL_DB", str(tmp_path / "none.duckdb"))
    result = runner.invoke(app, [*args, str(latin1)])
    assert result.exit_code != 0
    assert "not UTF-8 text" in result.output and "latin1.json" in result.output
    assert not isinstance(result.exception, UnicodeDecodeError)


def test_periodic_spec_names_the_missing_fields(tmp_path: Path) -> None:
    """A spec file without its fields was pydantic's multi-line report with a web link."""
    spec = tmp_path / "partial.spec.json"
    spec.write_text('{"kind": "pbrer"}', encoding="utf-8")
    result = runner.invoke(app, ["reports", "pbrer", "--spec", str(spec)])
    assert result.exit_code != 0
    assert "partial.spec.json: not a periodic report spec" in result.output
    assert "data_lock_point: Field required" in result.output and "errors.pydantic.dev" not in result.output
