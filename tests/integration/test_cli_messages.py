"""Error and note texts of the command line: printed as they are (never parsed as Rich markup
or emoji codes), control bytes escaped, echoed input capped, every option named
(reliability review 2026-12, D16 and D20)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cgtvigil.cli import app
from cgtvigil.cli._app import MAX_LINE, _progress

runner = CliRunner()


def _fails(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "Traceback" not in r.output
    return r.output


@pytest.mark.parametrize(
    "command",
    [
        ["ingest", "faers", "{p}", "--db", "{tmp}/m.duckdb"],
        ["signals", "--input", "{p}", "--output", "{tmp}/x.csv"],
        ["grade", "crs", "--input", "{p}"],
        ["forecast", "evaluate", "--data", "{p}"],
    ],
)
@pytest.mark.parametrize("name", ["nope[/]x.zip", "nope[bold red]x.zip"])
def test_paths_with_markup_are_printed_as_given(tmp_path: Path, command: list[str], name: str) -> None:
    """D16: '[/]' in a path raised MarkupError in every command; '[bold red]' vanished."""
    args = [a.format(p=tmp_path / name, tmp=tmp_path) for a in command]
    assert name in _fails(args)


def test_file_text_is_not_rendered_and_control_bytes_are_escaped(tmp_path: Path) -> None:
    """D16: a header 'root:x:0:0' was shown as 'root❌0:0' (emoji code ':x:'); ESC bytes from a
    junk header reached the terminal raw."""
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"root:x:0:0,\x1b[31mred,bell\x07\n1,2,3\n")
    out = _fails(["signals", "--input", str(junk), "--output", str(tmp_path / "x.csv")])
    assert "root:x:0:0" in out and "\u274c" not in out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[31mred" in out and "bell\\x07" in out


def test_echoed_input_is_capped(tmp_path: Path) -> None:
    """D16: an echoed header is cut at MAX_LINE characters of one line."""
    wide = tmp_path / "wide.csv"
    wide.write_text("h" * 20_000 + "\n1\n")
    out = _fails(["signals", "--input", str(wide), "--output", str(tmp_path / "x.csv")])
    assert "more characters" in out and "h" * (MAX_LINE + 1) not in out


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--method", "foo", "'--method' parameter of cgtvigil signals must be 'prr', 'ror', 'ic' or 'ebgm'. Got 'foo'"),
        ("--min-count", "-5", "'--min-count' parameter of cgtvigil signals must be greater than or equal to 1. Got -5"),
        ("--prior", "abc", "'--prior' parameter of cgtvigil signals must be five numbers"),
        ("--prior", "1,2,3", "Got '1,2,3'"),
        ("--levels", "pt,soc", "'--levels' parameter of cgtvigil signals must be 'pt' or 'topic'. Got 'soc'"),
    ],
)
def test_signal_options_are_named_without_pydantic_texts(
    tmp_path: Path, option: str, value: str, expected: str
) -> None:
    """D20: '--prior abc' gave "could not convert string to float: 'abc'" (no option named);
    '--method foo' and '--min-count -5' gave pydantic texts with URLs."""
    counts = tmp_path / "c.csv"
    counts.write_text("drug,event,a,b,c,d\nX,Y,3,10,20,400\n")
    out = _fails(
        ["signals", "--input", str(counts), "--format", "counts", "--output", str(tmp_path / "o.csv"), option, value]
    )
    assert expected in " ".join(out.split())
    assert "pydantic" not in out and "http" not in out and "validation error for" not in out


def test_progress_labels_are_not_markup(capsys: pytest.CaptureFixture[str]) -> None:
    """D16: progress labels name files (FAERS members); '[/]' in one raised MarkupError."""
    with _progress("ingest") as update:
        update("member a[/]b:x:\x1b", 1, 2)
    out = capsys.readouterr().err
    assert "member a[/]b:x:\\x1b" in out and "\u274c" not in out


def test_synth_and_forecast_print_paths_as_given(tmp_path: Path) -> None:
    """D16: the output folder of 'synth trajectories' was printed as markup after the files
    were written ('[/]' raised MarkupError, exit 1)."""
    out = tmp_path / "sim[/]x"
    r = runner.invoke(app, ["synth", "trajectories", str(out), "--patients", "3", "--days", "3"])
    assert r.exit_code == 0, r.output
    assert str(out / "daily.csv") in r.stdout


def test_synth_quarters_repeat_and_are_checked(tmp_path: Path) -> None:
    """Option audit (issue 8 §3): '--quarters 2024Q1 --quarters 2024Q2' kept only the last;
    '2024Q9' wrote faers_ascii_2024q9.zip and 'abc' raised ValueError; --patients 0 raised
    "need at least one array to concatenate"."""
    out = tmp_path / "sf"
    args = [
        "synth",
        "faers",
        str(out),
        "--reports-per-quarter",
        "5",
        "--quarters",
        "2024Q1",
        "--quarters",
        "2024q2,2024Q3",
    ]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.glob("*.zip")) == [f"faers_ascii_2024q{q}.zip" for q in (1, 2, 3)]
    text = _fails(["synth", "faers", str(tmp_path / "bad"), "--quarters", "2024Q9,abc", "--reports-per-quarter", "0"])
    assert (
        "The '--quarters' parameter of cgtvigil synth faers must be quarters such as 2024Q1 (Q1-Q4). Got '2024Q9'."
        in text
    )
    assert (
        "Got 'ABC'." in text
        and "'--reports-per-quarter' parameter of cgtvigil synth faers must be an integer >= 1" in text
    )
    assert not (tmp_path / "bad").exists()
    text = _fails(["synth", "trajectories", str(tmp_path / "t"), "--patients", "0", "--days", "0"])
    assert "'--patients' parameter of cgtvigil synth trajectories must be an integer >= 1. Got 0." in text
    assert "'--days' parameter" in text


def test_audit_anchor_prints_its_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """D16: the anchor path was printed as markup after the anchor was written ('[bold]'
    vanished, '[/]' raised MarkupError); an unwritable path raised a traceback."""
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", f"sqlite:///{tmp_path / 'op.db'}")
    assert runner.invoke(app, ["monitor", "gateway-add", "gw-1", "--site", "A"]).exit_code == 0
    anchor = tmp_path / "anchor[bold].json"
    r = runner.invoke(app, ["audit", "anchor", "--output", str(anchor)])
    assert r.exit_code == 0, r.output
    assert str(anchor) in " ".join(r.stdout.split()) and anchor.exists()
    assert "No such file or directory" in _fails(["audit", "anchor", "--output", str(tmp_path / "no" / "a.json")])
