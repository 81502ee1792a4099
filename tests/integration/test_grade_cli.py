"""`cgtvigil grade` end to end on the shipped examples (examples/grading, fictitious patients)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cgtvigil.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "grading"
runner = CliRunner()


def _json(args: list[str]) -> list[dict]:
    result = runner.invoke(app, ["grade", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_every_scheme_from_the_examples() -> None:
    crs = _json(["crs", "--input", str(EXAMPLES / "crs.json")])
    assert [r["grade"] for r in crs] == [1, 3, 1, 3] and crs[-1]["scheme"] == "CRS episode"
    assert _json(["icans", "--input", str(EXAMPLES / "icans.json")])[0]["grade"] == 2
    ctcae = _json(
        [
            "ctcae",
            "--input",
            str(EXAMPLES / "ctcae.csv"),
            "--term",
            "neutrophil_count_decreased",
            "--ctcae-version",
            "6.0",
        ]
    )
    assert [r["grade"] for r in ctcae] == [1, 3, 4] and ctcae[0]["version"] == "CTCAE-6.0"
    early, late = _json(["icaht", "--input", str(EXAMPLES / "icaht.json")])
    assert (early["grade"], late["grade"]) == (3, 2)
    assert _json(["score", "--input", str(EXAMPLES / "car_hematotox.json")])[0]["category"] == "high risk"
    iec = _json(["score", "--input", str(EXAMPLES / "iec_hs.json")])
    assert iec[0]["category"] == "suspected" and iec[0]["verified"] is False


@pytest.mark.parametrize("scheme", ["crs", "icans", "ctcae", "icaht", "score"])
def test_schema(scheme: str) -> None:
    result = runner.invoke(app, ["grade", scheme, "--schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["type"] == "object"


def test_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            [
                {"time": "2026-01-02T08:00", "temperature": 60, "sbp_mmhg": -1},
                {"time": "2026-01-02T09:00", "o2_device": "helmet"},
            ]
        )
    )
    result = runner.invoke(app, ["grade", "crs", "--input", str(bad)])
    assert result.exit_code == 2
    assert "field 'assessments.1.o2_device'" in result.output
    bad.write_text(json.dumps({"time": "2026-01-02T08:00", "temperature": 60, "sbp_mmhg": -1}))
    result = runner.invoke(app, ["grade", "crs", "--input", str(bad)])
    assert result.exit_code == 2 and "2 problems" in result.output and "temperature 60" in result.output
    assert runner.invoke(app, ["grade", "sofa", "--input", str(bad)]).exit_code == 2


def test_future_values_are_rejected(tmp_path: Path) -> None:
    future = tmp_path / "ctcae.json"
    future.write_text(
        json.dumps(
            {
                "term": "anemia",
                "results": [{"analyte": "hb", "value": 9.0, "unit": "g/dL", "time": "2999-01-01T00:00:00"}],
            }
        )
    )
    result = runner.invoke(app, ["grade", "ctcae", "--input", str(future)])
    assert result.exit_code == 2 and "is in the future" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b'[{"time":"2026-01-02T08:00","temperature":38.9,"sbp_mmhg":118,"o2_device":"none","n":"\xff"}]',
            "line 1: not UTF-8 text (byte 0xff",
        ),
        (b'[{"time":"2026-01-02T08:00","temperature":' + b"9" * 5000 + b"}]", "more than 4,300 digits"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
    ids=["non-utf8", "5000-digit-integer", "nested-100000"],
)
def test_hostile_input_gives_one_message_naming_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    """Reliability review D18: each of these raised a traceback; now one message, exit 2."""
    path = tmp_path / "g.json"
    path.write_bytes(content)
    result = runner.invoke(app, ["grade", "crs", "--input", str(path)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # a clean exit, no traceback
    text = " ".join(result.output.split())
    assert message in text and "g.json" in text and "Traceback" not in text
    csv_path = tmp_path / "labs.csv"
    csv_path.write_bytes(b"analyte,value,unit\nhb,\xff9,g/dL\n")
    bad_csv = runner.invoke(app, ["grade", "ctcae", "--term", "anemia", "--input", str(csv_path)])
    assert bad_csv.exit_code == 2 and "line 2: not UTF-8" in " ".join(bad_csv.output.split())
