"""Sequential surveillance (MaxSPRT critical values, registry-cohort runs) and time-to-onset commands."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import typer
from pydantic import ValidationError as PydanticValidationError
from rich.table import Table

from cgtvigil import __version__
from cgtvigil.cli._app import _fail, app, console, err, plain
from cgtvigil.errors import CgtVigilError, ValidationError
from cgtvigil.signals import (
    HAZARD_READINGS,
    MaxSPRTBoundary,
    maxsprt_alpha_spending,
    maxsprt_binomial_cv,
    maxsprt_performance,
    maxsprt_poisson_cv,
)

sequential_app = typer.Typer(
    help="Sequential surveillance with the exact MaxSPRT: critical values and registry-cohort runs.",
    no_args_is_help=True,
)
app.add_typer(sequential_app, name="sequential")

PlotOption = Annotated[
    Path | None,
    typer.Option(help="Write a chart: a Vega-Lite spec (.json) or a self-contained page (.html)."),
]


def _numbers(text: str | None, option: str) -> list[float]:
    if not text:
        return []
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise ValidationError([f"The '{option}' option must be comma-separated numbers. Got {text!r}."]) from exc


def _write_plot(path: Path, spec: dict[str, Any], title: str) -> None:
    """A Vega-Lite spec as JSON, or an HTML page that inlines the vendored vega libraries."""
    spec = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "title": title, **spec}
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(spec, indent=1, default=str), "utf-8")
        return
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValidationError([f"The '--plot' option must name a .json or .html file. Got {str(path)!r}."])
    vendor = resources.files("cgtvigil.web") / "static" / "vendor"
    names = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")
    if not all((vendor / n).is_file() for n in names):
        raise ValidationError(
            ["The '--plot' page needs the vendored vega libraries (built by `make setup`); write a .json spec instead."]
        )
    scripts = "\n".join(f"<script>{(vendor / n).read_text('utf-8')}</script>" for n in names)
    data = json.dumps(spec, default=str).replace("</", "<\\/")
    path.write_text(
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>{scripts}</head>'
        f'<body><div id="chart"></div><script>vegaEmbed("#chart", {data}, {{actions: false}});</script>'
        "</body></html>",
        "utf-8",
    )


def _boundary_table(b: MaxSPRTBoundary, limit: int) -> Table:
    unit = "expected events under H0" if b.model == "poisson" else "events"
    table = Table(title=f"Boundary: signal at the threshold count by the look ({unit})")
    for col in ("look", "threshold", "cumulative alpha"):
        table.add_column(col, justify="right")
    rows = list(zip(b.looks.tolist(), b.thresholds.tolist(), b.spent.tolist(), strict=True))
    shown = rows if len(rows) <= limit else [*rows[: limit - 1], rows[-1]]
    for i, (look, thr, spent) in enumerate(shown):
        if len(rows) > limit and i == limit - 1:
            table.add_row("...", "...", "...")
        table.add_row(f"{look:.4f}", str(thr), f"{spent:.6f}")
    return table


def _boundary_plot(b: MaxSPRTBoundary) -> dict[str, Any]:
    """Events needed to signal against information time: a signal when the count reaches the line."""
    unit = "expected events under H0" if b.model == "poisson" else "events"
    rows = [{"look": x, "threshold": r} for x, r in zip(b.looks.tolist(), b.thresholds.tolist(), strict=True)]
    if b.continuous and b.model == "poisson":  # the first count is needed from the start
        rows.insert(0, {"look": b.delay, "threshold": rows[0]["threshold"]})
        mark: dict[str, Any] = {"type": "line", "interpolate": "step-before", "point": True}
    else:  # signals only at the looks
        mark = {"type": "point", "filled": True, "size": 60}
    return {
        "width": 640,
        "height": 280,
        "data": {"values": rows},
        "mark": mark,
        "encoding": {
            "x": {"field": "look", "type": "quantitative", "title": unit},
            "y": {"field": "threshold", "type": "quantitative", "title": "events (cases) needed to signal"},
            "tooltip": [{"field": "look"}, {"field": "threshold"}],
        },
    }


@sequential_app.command("cv")
def cv_cmd(
    length: Annotated[
        float, typer.Option(help="Surveillance length: expected events under H0 (Poisson) or events (binomial).")
    ],
    model: Annotated[str, typer.Option(help="poisson or binomial.")] = "poisson",
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    minimum_events: Annotated[int, typer.Option(help="Events (cases) needed before a signal (M).")] = 1,
    delay: Annotated[float, typer.Option(help="Expected events at the first look (D), continuous Poisson.")] = 0.0,
    groups: Annotated[str | None, typer.Option(help="Group sizes, comma-separated (group sequential).")] = None,
    z: Annotated[float | None, typer.Option(help="Matching ratio, controls per case (binomial).")] = None,
    spending: Annotated[
        str, typer.Option(help="flat (one critical value) or power (alpha spending alpha*t^rho).")
    ] = "flat",
    rho: Annotated[float, typer.Option(help="Exponent of the power-type alpha spending.")] = 0.5,
    rr: Annotated[
        str | None, typer.Option(help="Relative risks for power and expected times, comma-separated.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the design and its performance as JSON.")
    ] = None,
    plot: PlotOption = None,
) -> None:
    """Exact MaxSPRT critical value (as R Sequential's CV.Poisson / CV.Binomial), boundary, power."""
    try:
        sizes = _numbers(groups, "--groups")
        if model == "poisson" and z is not None:
            raise ValidationError(["The '--z' option (matching ratio) belongs to the binomial model."])
        if delay and (sizes or spending != "flat"):
            raise ValidationError(["The '--delay' option belongs to continuous designs: the first group is the delay."])
        if spending == "power":
            if not sizes:
                raise ValidationError(["Alpha spending needs the looks: give '--groups'."])
            looks = [sum(sizes[: i + 1]) for i in range(len(sizes))]
            b = maxsprt_alpha_spending(model, length, looks, alpha=alpha, rho=rho, minimum_events=minimum_events, z=z)  # type: ignore[arg-type]
        elif spending != "flat":
            raise ValidationError([f"The '--spending' option must be 'flat' or 'power'. Got {spending!r}."])
        elif model == "poisson":
            b = maxsprt_poisson_cv(
                length, alpha=alpha, minimum_events=minimum_events, delay=delay, group_sizes=sizes or None
            )
        elif model == "binomial":
            if length != int(length):
                raise ValidationError(
                    [f"The '--length' of a binomial design is a whole number of events. Got {length!r}."]
                )
            b = maxsprt_binomial_cv(
                int(length), z=z, alpha=alpha, minimum_events=minimum_events, group_sizes=sizes or None
            )
        else:
            raise ValidationError([f"The '--model' option must be 'poisson' or 'binomial'. Got {model!r}."])
        perf = maxsprt_performance(b, _numbers(rr, "--rr")) if rr else None
        if plot is not None:
            _write_plot(plot, _boundary_plot(b), f"MaxSPRT boundary ({b.model}, alpha {b.alpha:g})")
    except CgtVigilError as exc:
        _fail(exc)
    kind = ("continuous" if b.continuous else "group sequential") + (
        f", {b.spending} alpha spending" if spending == "power" else ""
    )
    console.print(
        f"MaxSPRT {b.model}, {kind}: length {b.surveillance_length:g}, alpha {b.alpha:g}, M = {b.minimum_events}"
    )
    if math.isfinite(b.cv):
        same = (
            ""
            if b.continuous and b.model == "poisson"
            else f"; any cv in ({b.cv_lower:.6f}, {b.cv:.6f}] is the same test"
        )
        console.print(f"critical value (LLR) {b.cv:.6f}{same}")
    console.print(f"attained alpha {b.attained_alpha:.8f} (exact)")
    console.print(_boundary_table(b, 25))
    if perf is not None:
        table = Table(title="Performance (exact)")
        for col in ("RR", "power", "expected time to signal", "expected length"):
            table.add_column(col, justify="right")
        for row in perf.to_arrow().to_pylist():
            table.add_row(
                f"{row['rr']:g}",
                f"{row['power']:.4f}",
                f"{row['expected_signal_time']:.3f}",
                f"{row['expected_length']:.3f}",
            )
        console.print(table)
    if json_out is not None:
        doc = {
            "software": {"name": "cgtvigil", "version": __version__},
            "design": {"model": b.model, "continuous": b.continuous, "length": b.surveillance_length, "alpha": b.alpha,
                       "minimum_events": b.minimum_events, "delay": b.delay, "spending": b.spending,
                       "z": None if math.isnan(b.z) else b.z},
            "cv": b.cv if math.isfinite(b.cv) else None,
            "attained_alpha": b.attained_alpha,
            "boundary": b.to_arrow().to_pylist(),
            "performance": perf.to_arrow().to_pylist() if perf is not None else [],
        }  # fmt: skip
        json_out.write_text(json.dumps(doc, indent=1), "utf-8")


def _path_plot(run: Any) -> dict[str, Any]:
    """The LLR as follow-up accrues (it jumps at each event and falls in between), the analyses
    (points), the critical value (dashed) and the signal (a vertical rule)."""
    curve = [{**r, "time": r["time"].isoformat()} for r in run.curve.to_pylist()]
    points = [{**r, "time": r["time"].isoformat()} for r in run.to_arrow().to_pylist()]
    x = {"field": "time", "type": "temporal", "title": "calendar time"}
    y = {"field": "llr", "type": "quantitative", "title": "log-likelihood ratio"}
    tips = [{"field": f} for f in ("time", "observed", "expected", "llr")]
    layers: list[dict[str, Any]] = [
        {"data": {"values": curve}, "mark": {"type": "line"}, "encoding": {"x": x, "y": y}},
        {"data": {"values": points}, "mark": {"type": "point", "filled": True},
         "encoding": {"x": x, "y": y, "tooltip": tips}},
        {"data": {"values": [{"cv": run.boundary.cv}]},
         "mark": {"type": "rule", "color": "firebrick", "strokeDash": [6, 4]},
         "encoding": {"y": {"field": "cv", "type": "quantitative"}}},
    ]  # fmt: skip
    if run.signal_time is not None:
        layers.append(
            {"data": {"values": [{"time": run.signal_time.isoformat()}]},
             "mark": {"type": "rule", "color": "firebrick"}, "encoding": {"x": {"field": "time", "type": "temporal"}}}
        )  # fmt: skip
    return {"width": 640, "height": 280, "layer": layers}


@sequential_app.command("run")
def run_cmd(
    spec_file: Annotated[
        Path,
        typer.Argument(
            help="Cohort spec (JSON): name, products, event_kind, min_value, window_start_day, window_end_day, "
            "h0_risk, surveillance_length, alpha, minimum_events."
        ),
    ],
    now: Annotated[str | None, typer.Option(help="Analyse as of this UTC time (ISO 8601); default: now.")] = None,
    alert: Annotated[bool, typer.Option("--alert/--no-alert", help="Raise the cohort alert on a signal.")] = True,
    plot: PlotOption = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the run (path, summary, spec) as JSON.")
    ] = None,
) -> None:
    """Test a registry cohort's observed against expected events; alert when the boundary is crossed."""
    from cgtvigil.audit import append_audit
    from cgtvigil.config import Settings
    from cgtvigil.monitoring import CohortSpec, MonitoringRules, run_cohort_surveillance
    from cgtvigil.store import load_products, operational_engine, session_factory

    try:
        try:
            spec = CohortSpec.model_validate_json(spec_file.read_bytes())
        except OSError as exc:
            raise ValidationError([f"{spec_file}: the cohort spec cannot be read ({exc.strerror})."]) from exc
        except PydanticValidationError as exc:
            raise ValidationError(
                [f"{spec_file}: {'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors()]
            ) from exc
        at = datetime.fromisoformat(now) if now else datetime.now(UTC)
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        with session_factory(operational_engine(Settings.from_env().operational_url))() as session:
            run = run_cohort_surveillance(
                session, spec, load_products(), now=at, rules=MonitoringRules(), raise_alerts=alert
            )
            if run.alert_created:
                import getpass

                append_audit(
                    session, actor=f"cli:{getpass.getuser()}", action="sequential.signal",
                    target=f"alert:{run.alert_id}", at=at, detail=run.summary(),
                )  # fmt: skip
            session.commit()
        if plot is not None:
            _write_plot(plot, _path_plot(run), f"MaxSPRT: cohort {spec.name}")
    except (CgtVigilError, ValueError) as exc:
        _fail(exc)
    s = run.summary()
    console.print(
        plain(
            f"Cohort {spec.name}: {s['patients']} patients; at {s['at']}: {s['events']} events vs "
            f"{s['expected']:.3f} expected, "
            f"LLR {s['llr']:.3f}, cv {s['cv']:.4f} (alpha {spec.alpha:g}, length {spec.surveillance_length:g}, "
            f"M = {spec.minimum_events})"
        )
    )
    if run.signal_time is not None:
        where = (
            f"alert {run.alert_id} " + ("raised" if run.alert_created else "already raised")
            if run.alert_id
            else "no alert (--no-alert)"
        )
        console.print(plain(f"SIGNAL at {run.signal_time.isoformat()}: {where}."))
    elif run.test.ended:
        console.print("Surveillance ended without a signal: the expected count reached the surveillance length.")
    else:
        console.print("No signal so far; surveillance continues.")
    attr = run.attrition
    console.print(
        plain(f"observations {attr['observations']}: {attr['events']} first events in the window, "
              f"{attr['outside_window']} outside the window, {attr['after_now']} after the analysis time")
    )  # fmt: skip
    if json_out is not None:
        doc = {"software": {"name": "cgtvigil", "version": __version__}, "spec": spec.model_dump(mode="json"),
               "summary": s, "attrition": attr,
               "path": [{**r, "time": r["time"].isoformat()} for r in run.to_arrow().to_pylist()]}  # fmt: skip
        json_out.write_text(json.dumps(doc, indent=1), "utf-8")


def _onset_plot(intervals: Any, summary: pa.Table) -> dict[str, Any]:
    """For each fitted (drug, PT): its fitted Weibull CDF (lines) and its onsets (ticks at the
    interval midpoints), in days after the start."""
    fitted = {(r["drug"], r["event"]): r for r in summary.to_pylist() if r["shape"] is not None}
    points = [
        {"pair": f"{r['drug']} / {r['event']}", "days": (r["onset_lower"] + r["onset_upper"]) / 2}
        for r in intervals.usable().to_pylist()
        if (r["drug"], r["event"]) in fitted
    ]
    curves = []
    top = max([p["days"] for p in points] + [1.0])  # one day axis for both panels
    for (drug, event), r in fitted.items():
        for i in range(61):
            t = top * i / 60
            cdf = 1 - math.exp(-((t / r["scale"]) ** r["shape"]))
            curves.append({"pair": f"{drug} / {event}", "days": t, "cdf": cdf, "shape": round(r["shape"], 2)})
    color = {"field": "pair", "type": "nominal", "title": "product / PT"}
    x = {"field": "days", "type": "quantitative", "title": "days after the start"}
    return {
        "vconcat": [
            {"width": 640, "height": 220, "data": {"values": curves}, "mark": "line",
             "encoding": {"x": x, "y": {"field": "cdf", "type": "quantitative", "title": "fitted Weibull CDF"},
                          "color": color, "tooltip": [{"field": "pair"}, {"field": "shape"}]}},
            {"width": 640, "data": {"values": points}, "mark": {"type": "tick", "opacity": 0.7},
             "encoding": {"x": {**x, "title": "onsets (interval midpoints), days"},
                          "y": {"field": "pair", "type": "nominal", "title": None}, "color": color}},
        ]
    }  # fmt: skip


@app.command("onset")
def onset_cmd(
    db: Annotated[Path, typer.Option(help="FAERS store (DuckDB) built by `cgtvigil ingest faers`.")],
    drug: Annotated[list[str] | None, typer.Option(help="Drug label or product id (repeatable).")] = None,
    event: Annotated[list[str] | None, typer.Option(help="Preferred term (repeatable).")] = None,
    product_class: Annotated[
        str | None,
        typer.Option("--class", help="Compare the products of this class (e.g. 'CD19 CAR-T') for one --event."),
    ] = None,
    min_onsets: Annotated[int, typer.Option(help="Usable onsets needed for a Weibull fit.")] = 3,
    all_pairs: Annotated[bool, typer.Option("--all", help="List pairs without a fit too.")] = False,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Write the onset interval of every pair (with its status).")
    ] = None,
    plot: PlotOption = None,
) -> None:
    """Time to onset per (product, PT): Weibull shape with its CI and the hazard reading (WSP)."""
    from cgtvigil.config import Settings
    from cgtvigil.screening import class_onset_comparison, onset_intervals, onset_summary, open_screen_store
    from cgtvigil.store import load_products

    try:
        if product_class is not None and len(event or []) != 1:
            raise ValidationError(["The '--class' option compares one PT: give exactly one '--event'."])
        settings = Settings.from_env()
        limit, spill = settings.duckdb_memory_limit, settings.duckdb_temp_dir
        store = open_screen_store(db, memory_limit=limit, temp_directory=spill)
        with store:
            intervals = onset_intervals(store, drugs=drug, events=event)
        summary = onset_summary(intervals, min_onsets=min_onsets)
        comparison = None
        if product_class is not None and event:
            comparison = class_onset_comparison(
                intervals, load_products(), product_class, event[0], min_onsets=min_onsets
            )
        if csv_out is not None:
            pacsv.write_csv(intervals.table, csv_out)
        if plot is not None:
            _write_plot(plot, _onset_plot(intervals, summary), "Time to onset")
    except CgtVigilError as exc:
        _fail(exc)
    a = intervals.attrition
    console.print(
        plain(f"{a['pairs']} (report, product, PT) pairs: {a['ok']} with an onset; " + ", ".join(
            f"{a[k]} {k.replace('_', ' ')}" for k in a if k not in ("ok", "pairs")))
    )  # fmt: skip
    rows = [r for r in summary.to_pylist() if all_pairs or r["shape"] is not None]
    table = Table(title="Time to onset (days): Weibull fit, 95% CI of the shape")
    for col in ("drug", "event", "pairs", "onsets", "exact", "median", "shape", "95% CI", "hazard"):
        text = col in ("drug", "event", "hazard")
        table.add_column(col, justify="left" if text else "right", overflow="fold" if text else "ellipsis")
    for r in rows:
        fitted = r["shape"] is not None
        table.add_row(
            plain(r["drug"]), plain(r["event"]), str(r["pairs"]), str(r["onsets"]),
            str(r["n_exact"]) if fitted else "", f"{r['median_days']:.1f}" if fitted else "",
            f"{r['shape']:.2f}" if fitted else "", f"{r['shape_lower']:.2f}-{r['shape_upper']:.2f}" if fitted else "",
            r["hazard"] if fitted else plain(r["note"]),
        )  # fmt: skip
    if rows:
        console.print(table)
    else:
        err.print(
            f"No pair has {min_onsets} or more usable onsets" + (" (use --all to list them)." if not all_pairs else ".")
        )
    console.print("; ".join(f"{k}: {v}" for k, v in HAZARD_READINGS.items()))
    if comparison is not None:
        comp, counts = comparison
        console.print(
            plain(f"{product_class}, {event[0] if event else ''}: LR test of one onset distribution across "
                  f"{', '.join(comp.groups)}: LR {comp.lr_statistic:.2f} on {comp.df} df, p = {comp.p_value:.3g}; "
                  f"usable onsets per product {counts}")
        )  # fmt: skip
