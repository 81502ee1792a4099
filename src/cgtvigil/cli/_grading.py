"""The grade command (clinical grading and scores)."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cgtvigil.cli._app import _fail, app, console
from cgtvigil.clinical import REQUESTS, grade_request, request_schema
from cgtvigil.errors import CgtVigilError


def _read_text(path: Path) -> str:
    """The input as text: UTF-8 (a BOM is allowed), or one message naming the file."""
    data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CgtVigilError(
            f"{path}, line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8."
        ) from exc


def _read_json(path: Path, text: str) -> Any:
    """Parse JSON, turning every way the parser can refuse (syntax, an integer too long to
    convert, nesting too deep for the parser) into one message naming the file."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CgtVigilError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}).") from exc
    except ValueError as exc:  # int() digit limit: "Exceeds the limit (4300 digits) ..."
        limit = sys.get_int_max_str_digits()
        raise CgtVigilError(
            f"{path}: a number in the JSON has more than {limit:,} digits; no input needs one."
        ) from exc
    except RecursionError as exc:
        raise CgtVigilError(f"{path}: the JSON is nested too deeply to read.") from exc


def _read_grade_input(path: Path, scheme: str, options: dict[str, Any]) -> Any:
    """A JSON payload as is; a CSV file as rows (one assessment or one lab result per row)."""
    text = _read_text(path)
    if path.suffix.lower() != ".csv":
        return _read_json(path, text)
    rows = [{k: v for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(io.StringIO(text))]
    if scheme in ("crs", "icans"):
        for r in rows:
            if "vasopressors" in r:
                r["vasopressors"] = [v.strip() for v in r["vasopressors"].split(";") if v.strip()]
        return {"assessments": rows}
    if scheme == "ctcae":
        return {"term": options["term"], "version": options["ctcae_version"], "results": rows}
    if scheme == "icaht":
        if not options["infusion"]:
            raise CgtVigilError("an ICAHT CSV needs --infusion (the infusion date-time, day 0).")
        return {
            "infusion": options["infusion"],
            "censor": options["censor"],
            "anc": [r for r in rows if r.get("analyte") == "anc"],
            "plt": [r for r in rows if r.get("analyte") == "plt"],
        }
    return {"name": options["name"], "labs": {r["analyte"]: r for r in rows if "analyte" in r}}


@app.command("grade")
def grade_cmd(
    scheme: Annotated[str, typer.Argument(help="crs, icans, ctcae, icaht or score.")],
    input: Annotated[Path | None, typer.Option("--input", help="JSON or CSV file ('-' for standard input).")] = None,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the JSON Schema of this scheme's input and exit.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    term: Annotated[
        str | None, typer.Option(help="CTCAE term for a CSV input, e.g. neutrophil_count_decreased.")
    ] = None,
    ctcae_version: Annotated[str, typer.Option(help="CTCAE version for a CSV input: 5.0 or 6.0.")] = "5.0",
    infusion: Annotated[str | None, typer.Option(help="ICAHT CSV: infusion date-time (day 0).")] = None,
    censor: Annotated[
        str | None, typer.Option(help="ICAHT CSV: censoring date-time (death, progression, ...).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Score CSV: hlh2004, hscore, easix, simplified-easix, m-easix, car-hematotox.")
    ] = None,
) -> None:
    """Grade toxicities (ASTCT CRS/ICANS, CTCAE, ICAHT) or compute risk scores, with explanations."""
    if scheme not in REQUESTS:
        _fail(CgtVigilError(f"unknown scheme '{scheme}'; expected one of {', '.join(REQUESTS)}."))
    if schema:
        console.print_json(json.dumps(request_schema(scheme)))
        return
    if input is None:
        _fail(CgtVigilError("give --input FILE (JSON or CSV), or --schema to see the expected input."))
    assert input is not None
    options = {"term": term, "ctcae_version": ctcae_version, "infusion": infusion, "censor": censor, "name": name}
    try:
        results = grade_request(scheme, _read_grade_input(input, scheme, options))
    except CgtVigilError as exc:
        _fail(exc if str(exc).startswith(str(input)) else CgtVigilError(f"{input}: {exc}"))
    except OSError as exc:
        _fail(exc)
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in results]))
        return
    for r in results:
        when = r.inputs.get("time")
        console.print((f"[dim]{when}[/] " if when else "") + r.explain())
