"""The grade command (clinical grading and scores)."""

from __future__ import annotations

import csv
import io
import json
import sys
import typing
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from cgtvigil._validation import Problems, param_message
from cgtvigil.cli._app import _fail, _unused, app, console, plain
from cgtvigil.clinical import REQUESTS, grade_request, request_schema
from cgtvigil.errors import CgtVigilError, ValidationError


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


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of a CSV (line number, non-blank cells by column), or one message naming the
    file and line: a column named twice or a row longer than the header would lose values."""
    reader = csv.reader(io.StringIO(text))
    rows = []
    problems = Problems()
    try:
        header = next(reader, None)
        if not header:
            raise CgtVigilError(f"{path}: the CSV is empty; expected a header line and one row per value.")
        twice = sorted(h for h, n in Counter(header).items() if n > 1)
        if twice:
            names = ", ".join(repr(h) for h in twice)
            raise CgtVigilError(f"{path}, line 1: column name(s) used twice: {names}; keep one of each.")
        for fields in reader:
            if not fields:
                continue
            if len(fields) > len(header):
                problems.add(f"{path}, line {reader.line_num}: {len(fields)} fields, the header names {len(header)}.")
            rows.append((reader.line_num, {k: v for k, v in zip(header, fields, strict=False) if v != ""}))
    except csv.Error as exc:  # e.g. a field longer than the csv module's limit
        raise CgtVigilError(f"{path}, line {reader.line_num}: not a readable CSV row ({exc}).") from exc
    _raise(problems)
    return rows


def _raise(problems: Problems, limit: int = 20) -> None:
    """Raise the problems, the first ``limit`` of them listed."""
    if len(problems.items) > limit:
        problems.items[limit:] = [f"... and {len(problems.items) - limit:,} more."]
    problems.raise_if_any()


def _read_grade_input(path: Path, scheme: str, options: dict[str, Any]) -> Any:
    """A JSON payload as is; a CSV file as rows (one assessment or one lab result per row)."""
    text = _read_text(path)
    if path.suffix.lower() != ".csv":
        return _read_json(path, text)
    rows = _csv_rows(path, text)
    problems = Problems()
    if scheme in ("crs", "icans"):
        for _, r in rows:
            if "vasopressors" in r:
                r["vasopressors"] = [v.strip() for v in r["vasopressors"].split(";") if v.strip()]  # type: ignore[assignment]
        return {"assessments": [r for _, r in rows]}
    if scheme == "ctcae":
        if not options["term"]:
            raise CgtVigilError("a CTCAE CSV needs --term (the CTCAE term, e.g. neutrophil_count_decreased).")
        return {"term": options["term"], "version": options["ctcae_version"] or "5.0", "results": [r for _, r in rows]}
    if scheme == "icaht":
        if not options["infusion"]:
            raise CgtVigilError("an ICAHT CSV needs --infusion (the infusion date-time, day 0).")
        series: dict[str, list[dict[str, str]]] = {"anc": [], "plt": []}
        for line, r in rows:
            analyte = r.get("analyte", "").strip().lower()
            if analyte in series:
                series[analyte].append({**r, "analyte": analyte})
            else:
                problems.add(f"{path}, line {line}: the analyte must be 'anc' or 'plt'. Got {r.get('analyte', '')!r}.")
        _raise(problems)
        return {"infusion": options["infusion"], "censor": options["censor"], **series}
    if not options["name"]:
        raise CgtVigilError(f"a score CSV needs --name (one of {', '.join(_choices('score', 'name'))}).")
    labs: dict[str, dict[str, str]] = {}
    first: dict[str, int] = {}
    for line, r in rows:
        analyte = r.get("analyte", "").strip()
        if not analyte:
            problems.add(f"{path}, line {line}: the analyte is blank; name it (e.g. ldh, crp, plt).")
        elif analyte in labs:
            problems.add(
                f"{path}, line {line}: the analyte '{analyte}' is given again (first on line {first[analyte]})."
            )
        else:
            labs[analyte], first[analyte] = r, line
    _raise(problems)
    return {"name": options["name"], "labs": labs}


def _choices(scheme: str, field: str) -> tuple[str, ...]:
    """The values a request field allows (a Literal of the scheme's request model)."""
    return typing.get_args(REQUESTS[scheme].model_fields[field].annotation)


# option of a CSV input -> (the scheme whose CSV uses it, the request field a JSON input gives it in)
_CSV_OPTIONS = {
    "term": ("ctcae", "term"),
    "ctcae_version": ("ctcae", "version"),
    "infusion": ("icaht", "infusion"),
    "censor": ("icaht", "censor"),
    "name": ("score", "name"),
}


@app.command("grade")
def grade_cmd(
    scheme: Annotated[str, typer.Argument(help="crs, icans, ctcae, icaht or score.")],
    input: Annotated[Path | None, typer.Option("--input", help="JSON or CSV file ('-' for standard input).")] = None,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the JSON Schema of this scheme's input and exit.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    term: Annotated[
        str | None, typer.Option(help="ctcae CSV: the CTCAE term, e.g. neutrophil_count_decreased.")
    ] = None,
    ctcae_version: Annotated[
        str | None, typer.Option(help="ctcae CSV: CTCAE version, 5.0 (the default) or 6.0.")
    ] = None,
    infusion: Annotated[str | None, typer.Option(help="icaht CSV: infusion date-time (day 0).")] = None,
    censor: Annotated[
        str | None, typer.Option(help="icaht CSV: censoring date-time (death, progression, ...).")
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="score CSV: hlh2004, hscore, easix, simplified-easix, m-easix, car-hematotox, iec-hs."),
    ] = None,
) -> None:
    """Grade toxicities (ASTCT CRS/ICANS, CTCAE, ICAHT) or compute risk scores, with explanations.

    A CSV input holds one assessment or lab result per row; its options (--term, --ctcae-version,
    --infusion, --censor, --name) give what a JSON input holds in its own fields."""
    if scheme not in REQUESTS:
        _fail(CgtVigilError(f"unknown scheme '{scheme}'; expected one of {', '.join(REQUESTS)}."))
    options = {"term": term, "ctcae_version": ctcae_version, "infusion": infusion, "censor": censor, "name": name}
    problems = Problems()
    if schema:
        _unused(
            "with --schema (it prints the input's schema and exits)",
            problems,
            input=input is not None,
            **{k: v is not None for k, v in options.items()},
        )
    elif input is None:
        _fail(CgtVigilError("give --input FILE (JSON or CSV), or --schema to see the expected input."))
    else:
        is_csv = input.suffix.lower() == ".csv"
        for option, (used_by, field) in _CSV_OPTIONS.items():
            if options[option] is None:
                continue
            if scheme != used_by:
                _unused(f"for grade {scheme} (it is for grade {used_by} with a CSV input)", problems, **{option: True})
            elif not is_csv:
                _unused(f"with a JSON input (the JSON gives its '{field}' field)", problems, **{option: True})
        if (
            is_csv
            and scheme == "ctcae"
            and ctcae_version is not None
            and ctcae_version not in _choices("ctcae", "version")
        ):
            expected = " or ".join(repr(v) for v in _choices("ctcae", "version"))
            problems.add(param_message("--ctcae-version", "cgtvigil grade", expected, ctcae_version))
        if is_csv and scheme == "score" and name is not None and name not in _choices("score", "name"):
            problems.add(
                param_message("--name", "cgtvigil grade", f"one of {', '.join(_choices('score', 'name'))}", name)
            )
    if problems:
        _fail(ValidationError(problems.items))
    if schema:
        console.print_json(json.dumps(request_schema(scheme)))
        return
    assert input is not None
    try:
        results = grade_request(scheme, _read_grade_input(input, scheme, options))
    except CgtVigilError as exc:
        named = exc.problems if isinstance(exc, ValidationError) else [str(exc)]
        _fail(exc if all(p.startswith(str(input)) for p in named) else CgtVigilError(f"{input}: {exc}"))
    except OSError as exc:
        _fail(exc)
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in results]))
        return
    for r in results:
        when = r.inputs.get("time")
        console.print(
            Text.assemble((plain(when).plain, "dim"), " ", plain(r.explain())) if when else plain(r.explain())
        )
