"""The learned ranking commands: rank fit | evaluate | predict."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cgtvigil.cli._app import _fail, _progress, _show_warnings, app, console, err, plain
from cgtvigil.cli._surveillance import PlotOption, _write_plot
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError, ParseError, ValidationError
from cgtvigil.screening import (
    FEATURE_NAMES,
    PairFeatures,
    ReferenceSet,
    add_priority,
    check_result_path,
    check_writable,
    evaluate_reference,
    fit_reference,
    load_reference_set,
    open_screen_store,
    pair_features,
    ranking_document,
    read_result,
    score_features,
    write_result,
)
from cgtvigil.signals import SignalRanker
from cgtvigil.store import load_products

rank_app = typer.Typer(
    help="Learned, explained ranking of (drug, event) pairs (vigiRank-like): fit, evaluate, predict.",
    no_args_is_help=True,
)
app.add_typer(rank_app, name="rank")

DbOption = Annotated[Path, typer.Option(help="FAERS store (DuckDB) built by `cgtvigil ingest faers`.")]
ReferenceOption = Annotated[
    Path,
    typer.Option(
        help="Reference set: an OHDSI CSV (OMOP, EU-ADR), a `synth faers` manifest, or a drug,event,label CSV."
    ),
]
OutcomeMapOption = Annotated[
    Path | None, typer.Option(help="Outcome-to-PT map for OHDSI sets (default: the one beside the set).")
]
UntilOption = Annotated[
    str | None, typer.Option(help="Time-indexed mode: use only cases of this quarter or earlier (e.g. 2024Q2).")
]
FeaturesOption = Annotated[
    list[str] | None, typer.Option("--feature", help="Features to use (repeatable; default: all).")
]


def _features(db: Path, reference: ReferenceSet | None, until: str | None) -> PairFeatures:
    settings = Settings.from_env()
    store = open_screen_store(db, memory_limit=settings.duckdb_memory_limit, temp_directory=settings.duckdb_temp_dir)
    with store, _progress("features") as progress, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        feats = pair_features(
            store,
            load_products(),
            event_groups=reference.event_groups if reference else None,
            until=until,
            progress=progress,
        )  # fmt: skip  (under the store's limit, the deployment's setting)
    _show_warnings(caught)
    return feats


def _print_mapping(m: dict[str, Any]) -> None:
    console.print(
        plain(
            f"Reference {m['reference']} ({m['source']['layout']}): {m['given']} pairs given, {m['mapped']} found in "
            f"the store ({m['positives']} positive); {len(m['drugs_not_in_store'])} drugs not in the store, "
            f"{len(m['events_not_in_store'])} events not in the store, {m['pairs_not_reported_together']} pairs "
            f"never reported together, {len(m['conflicting_labels'])} with conflicting labels."
        )
    )
    if m["drugs_not_in_store"]:
        shown = m["drugs_not_in_store"][:15]
        more = len(m["drugs_not_in_store"]) - len(shown)
        err.print(plain(f"not in the store: {', '.join(shown)}" + (f" ... and {more} more" if more else "")))


def _evaluation_plot(curves: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """ROC and precision-recall curves side by side, one line per method."""
    color = {"field": "method", "type": "nominal", "title": "method"}

    def panel(curve: str, x_title: str, y_title: str) -> dict[str, Any]:
        return {
            "width": 320, "height": 300, "title": "ROC" if curve == "roc" else "Precision-recall",
            "transform": [{"filter": {"field": "curve", "equal": curve}}],
            "mark": {"type": "line", "interpolate": "step-after" if curve == "pr" else "linear"},
            "encoding": {"x": {"field": "x", "type": "quantitative", "title": x_title, "scale": {"domain": [0, 1]}},
                         "y": {"field": "y", "type": "quantitative", "title": y_title, "scale": {"domain": [0, 1]}},
                         "order": {"field": "order"}, "color": color,
                         "tooltip": [{"field": "method"}, {"field": "x", "format": ".3f"},
                                     {"field": "y", "format": ".3f"}]},
        }  # fmt: skip

    return {
        "data": {"values": curves},
        "hconcat": [panel("roc", "false-positive rate", "true-positive rate"), panel("pr", "recall", "precision")],
        "description": title,
    }


@rank_app.command("evaluate")
def evaluate_cmd(
    db: DbOption,
    reference: ReferenceOption,
    outcome_map: OutcomeMapOption = None,
    model: Annotated[
        str, typer.Option(help="logistic (penalised, the default) or gbm (gradient boosting).")
    ] = "logistic",
    folds: Annotated[int, typer.Option(help="Cross-validation folds, grouped by drug.")] = 5,
    k: Annotated[int, typer.Option("--k", help="Precision at the top k.")] = 10,
    bootstrap: Annotated[int, typer.Option(help="Cluster-bootstrap resamples (drugs) for the CIs.")] = 1000,
    c: Annotated[float, typer.Option("--C", help="Inverse L2 penalty of the logistic model.")] = 1.0,
    until: UntilOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the folds and the bootstrap.")] = 0,
    feature: FeaturesOption = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every figure and setting as JSON.")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the labelled pairs with their scores.")] = None,
    plot: PlotOption = None,
) -> None:
    """Cross-validate the ranker against EB05, IC025, ROR025 and N on the same folds."""
    try:
        for path in (json_out, csv_out, plot):
            if path is not None:
                check_writable(path)
        ref = load_reference_set(reference, outcome_map=outcome_map)
        feats = _features(db, ref, until)
        with _progress("cross-validation") as progress:
            progress(f"{folds} folds, {bootstrap} bootstrap resamples", 0, 1)
            report = evaluate_reference(
                feats, ref, load_products(), feature_names=feature or FEATURE_NAMES, model=model, C=c,
                n_splits=folds, k=k, n_boot=bootstrap, seed=seed,
            )  # fmt: skip
            progress("done", 1, 1)
        ev = report.evaluation
        if plot is not None:
            _write_plot(plot, _evaluation_plot(ev.curves(), ref.name), f"Ranking evaluation: {ref.name}")
        if json_out is not None:
            json_out.write_text(json.dumps(report.to_dict(), indent=1, default=str), "utf-8")
        if csv_out is not None:
            import pyarrow.csv as pacsv

            pacsv.write_csv(report.pairs, csv_out)
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    _print_mapping(report.mapping)
    table = Table(title=f"Out-of-fold ranking of {len(ev.labels)} pairs ({int(ev.labels.sum())} positive), 95% CI")
    for col in ("method", "AUROC", "AUPRC", f"precision at {k}"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for method in ev.oof:
        cells = []
        for metric in ("auroc", "auprc", "precision_at_k"):
            f = ev.figure(method, metric)
            cells.append(f"{f['estimate']:.3f} ({f['lower']:.3f}-{f['upper']:.3f})")
        table.add_row("ranker (" + model + ")" if method == "ranker" else method, *cells)
    console.print(table)
    for metric in ("auroc", "auprc", "precision_at_k"):
        m = ev.margin(metric)
        verdict = "better" if m["lower"] > 0 else "worse" if m["upper"] < 0 else "not distinguishable"
        console.print(
            f"margin over {m['against']} ({metric}): {m['estimate']:+.3f} (95% CI {m['lower']:+.3f} to "
            f"{m['upper']:+.3f}): {verdict}"
        )
    cal = ev.calibration
    console.print(
        f"calibration of the out-of-fold probabilities: Brier {cal['brier']:.3f} (base rate alone "
        f"{cal['brier_base_rate']:.3f}), mean probability {cal['mean_probability']:.3f} for a positive share of "
        f"{cal['observed_rate']:.3f}, slope {cal['slope']:.2f} and intercept {cal['intercept']:+.2f} "
        "(1 and 0 when calibrated; slope < 1: over-confident)"
    )
    console.print(
        plain(
            f"Where these figures come from: {folds}-fold cross-validation grouped by drug (seed {seed}); the ranker "
            f"is fitted on the training folds only and scored on the held-out drugs; the statistics are the same "
            f"pairs' values; CIs: {bootstrap} cluster-bootstrap resamples of drugs; the best statistic is chosen "
            f"after the fact. Store {db} (snapshot {feats.metadata['data']['snapshot_sha256'][:12]}, "
            f"up to {feats.metadata['data']['last_quarter']}), reference {reference}."
        )
    )


@rank_app.command("fit")
def fit_cmd(
    db: DbOption,
    reference: ReferenceOption,
    out: Annotated[Path, typer.Option(help="Model file to write (JSON: coefficients, spec, training snapshot).")],
    outcome_map: OutcomeMapOption = None,
    c: Annotated[float, typer.Option("--C", help="Inverse L2 penalty of the logistic model.")] = 1.0,
    until: UntilOption = None,
    feature: FeaturesOption = None,
) -> None:
    """Fit the logistic ranker on every reference pair found in the store."""
    try:
        check_writable(out)
        ref = load_reference_set(reference, outcome_map=outcome_map)
        feats = _features(db, ref, until)
        ranker, mapping = fit_reference(feats, ref, load_products(), feature_names=feature or FEATURE_NAMES, C=c)
        doc = ranking_document(ranker, mapping, feats)
        out.write_text(json.dumps(doc, indent=1, default=str), "utf-8")
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    _print_mapping(mapping)
    table = Table(title="Logistic ranker: coefficient per standardised feature (log-odds per SD)")
    table.add_column("feature")
    table.add_column("coefficient", justify="right")
    for name, coef in sorted(zip(ranker.feature_names_, ranker.coef_.tolist(), strict=True), key=lambda t: -abs(t[1])):
        table.add_row(name, f"{coef:+.3f}")
    console.print(table)
    console.print(plain(f"model written to {out} ({ranker.n_positive_} positive, {ranker.n_negative_} negative pairs)"))


def _load_model(path: Path) -> tuple[SignalRanker, dict[str, Any]]:
    try:
        doc = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ParseError(f"cannot be read as a ranking model ({exc})", file=str(path)) from exc
    if not isinstance(doc, dict) or doc.get("kind") != "cgtvigil ranking model":
        raise ParseError("is not a ranking model written by `cgtvigil rank fit`", file=str(path))
    return SignalRanker.from_dict(doc["model"]), doc


@rank_app.command("predict")
def predict_cmd(
    result: Annotated[Path, typer.Argument(help="A screen result written by `cgtvigil signals`.")],
    db: DbOption,
    model: Annotated[Path, typer.Option(help="Model file written by `cgtvigil rank fit`.")],
    out: Annotated[Path, typer.Option(help="Result file with priority columns (.csv, .parquet or .json).")],
    top: Annotated[int, typer.Option(help="Pairs to list.")] = 15,
) -> None:
    """Add a priority (1 = review first), its probability and explanation to a screen result."""
    try:
        check_result_path(out)
        ranker, doc = _load_model(model)
        screen = read_result(result)
        if doc["training"]["features"].get("event_level") != "pt":
            err.print("note: the model was trained on outcome groups (e.g. OMOP outcomes) and is applied to PTs.")
        feats = _features(db, None, None)
        ranked = add_priority(screen, score_features(feats, ranker), doc)
        if ranked.metadata["ranking"]["scored_pairs"] == 0:
            raise ValidationError(
                [f"No PT pair of {result} is among the store's pairs: was the screen run on the store {db}?"]
            )
        write_result(ranked, out)
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    rows = sorted((r for r in ranked.table.to_pylist() if r["priority"] is not None), key=lambda r: r["priority"])[:top]
    table = Table(title="Review first: learned priority and what drove it (log-odds contributions)")
    for col in ("priority", "drug", "event", "n", "EB05", "probability"):
        table.add_column(col, justify="right" if col in ("priority", "n", "EB05", "probability") else "left")
    table.add_column("explanation", min_width=36, overflow="fold")
    for r in rows:
        table.add_row(
            str(r["priority"]), plain(r["drug"]), plain(r["event"]), str(r["n"]),
            f"{r['eb05']:.2f}" if r.get("eb05") is not None else "", f"{r['priority_score']:.3f}",
            plain(r["priority_explanation"]),
        )  # fmt: skip
    console.print(table)
    console.print(plain(f"{ranked.metadata['ranking']['scored_pairs']:,} PT pairs ranked; written to {out}"))
