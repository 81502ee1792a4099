"""The HTML report of `cgtvigil forecast evaluate --family all`: tables and Vega-Lite charts
of the model families compared per task (the result of ``forecasting.compare_families``)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

__all__ = ["forecast_charts", "render_forecast_report"]

_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"


def _task_rows(result: dict[str, Any], metric: str) -> list[dict[str, Any]]:
    rows = []
    for task in result["tasks"]:
        for family, m in task["families"].items():
            value = m.get(metric) if metric != "patient_level" else (m.get("patient_level") or {}).get("auroc")
            if value is not None:
                rows.append(
                    {
                        "grade": f"grade >= {task['min_grade']}",
                        "horizon": task["horizon_days"],
                        "family": family,
                        metric: value,
                    }
                )
    return rows


def _by_horizon(result: dict[str, Any], metric: str, title: str) -> dict[str, Any]:
    return {
        "$schema": _SCHEMA,
        "title": title,
        "data": {"values": _task_rows(result, metric)},
        "facet": {"column": {"field": "grade", "title": None}},
        "spec": {
            "width": 260,
            "height": 200,
            "mark": {"type": "line", "point": True},
            "encoding": {
                "x": {"field": "horizon", "type": "ordinal", "title": "days ahead"},
                "y": {"field": metric, "type": "quantitative", "scale": {"zero": False}},
                "color": {"field": "family", "type": "nominal"},
            },
        },
    }


def _pick(result: dict[str, Any], grade: int, horizon: int) -> dict[str, Any] | None:
    for task in result["tasks"]:
        if task["min_grade"] == grade and task["horizon_days"] == horizon:
            return task  # type: ignore[no-any-return]
    return None


def _reliability(task: dict[str, Any]) -> dict[str, Any]:
    values = [
        {"family": f, "predicted": b["mean_predicted"], "observed": b["observed"], "n": b["n"]}
        for f, m in task["families"].items()
        for b in (m.get("calibration") or {}).get("bins", [])
    ]
    return {
        "$schema": _SCHEMA,
        "title": f"Reliability, grade >= {task['min_grade']} within {task['horizon_days']} days",
        "width": 320,
        "height": 320,
        "layer": [
            {
                "data": {"values": [{"x": 0, "y": 0}, {"x": 1, "y": 1}]},
                "mark": {"type": "line", "color": "#999", "strokeDash": [4, 4]},
                "encoding": {"x": {"field": "x", "type": "quantitative"}, "y": {"field": "y", "type": "quantitative"}},
            },
            {
                "data": {"values": values},
                "mark": {"type": "line", "point": True},
                "encoding": {
                    "x": {"field": "predicted", "type": "quantitative", "title": "mean predicted risk"},
                    "y": {"field": "observed", "type": "quantitative", "title": "observed share"},
                    "color": {"field": "family", "type": "nominal"},
                    "tooltip": [{"field": "n"}],
                },
            },
        ],
    }


def _decision(task: dict[str, Any]) -> dict[str, Any]:
    values = []
    for f, m in task["families"].items():
        for row in m.get("decision_curve") or []:
            values.append({"curve": f, "threshold": row["threshold"], "net_benefit": row["net_benefit"]})
    first = next(iter(task["families"].values())).get("decision_curve") or []
    values += [{"curve": "alert everyone", "threshold": r["threshold"], "net_benefit": r["treat_all"]} for r in first]
    values += [{"curve": "alert no one", "threshold": r["threshold"], "net_benefit": 0.0} for r in first]
    return {
        "$schema": _SCHEMA,
        "title": f"Decision curve, grade >= {task['min_grade']} within {task['horizon_days']} days",
        "width": 320,
        "height": 260,
        "data": {"values": values},
        "mark": "line",
        "encoding": {
            "x": {"field": "threshold", "type": "quantitative", "title": "risk threshold"},
            "y": {
                "field": "net_benefit",
                "type": "quantitative",
                "title": "net benefit",
                "scale": {"domainMin": -0.05},
            },
            "color": {"field": "curve", "type": "nominal"},
        },
    }


def forecast_charts(result: dict[str, Any], focus_horizon: int = 5) -> list[dict[str, Any]]:
    """Vega-Lite specifications: AUROC, AUPRC and the patient-level AUROC by horizon; the
    reliability and decision curves of the tasks at ``focus_horizon`` days."""
    charts = [
        _by_horizon(result, "auroc", "Per patient-day AUROC of onset within the horizon"),
        _by_horizon(result, "auprc", "Per patient-day AUPRC"),
        _by_horizon(result, "patient_level", "Patient-level AUROC (highest forecast before onset)"),
    ]
    for grade in sorted({t["min_grade"] for t in result["tasks"]}):
        task = _pick(result, grade, focus_horizon) or _pick(result, grade, result["tasks"][-1]["horizon_days"])
        if task is not None:
            charts += [_reliability(task), _decision(task)]
    return charts


def _fmt(v: Any, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else html.escape(str(v))


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def render_forecast_report(result: dict[str, Any], scripts: str, *, title: str) -> str:
    """A self-contained page: ``scripts`` holds the vega, vega-lite and vega-embed libraries
    (inlined by the caller, no CDN)."""
    rows = []
    for t in result["tasks"]:
        for f, m in t["families"].items():
            cal = m.get("calibration") or {}
            lead = m.get("lead_time") or {}
            rows.append(
                [
                    f"≥ {t['min_grade']}",
                    t["horizon_days"],
                    f + (" ★" if f == t["winner"] else ""),
                    m.get("auroc"),
                    m.get("auprc"),
                    (m.get("patient_level") or {}).get("auroc"),
                    m.get("brier"),
                    cal.get("slope"),
                    lead.get("detected"),
                    lead.get("median_lead_days"),
                ]
            )
    tasks = _table(
        [
            "grade",
            "days ahead",
            "family (★ kept)",
            "AUROC",
            "AUPRC",
            "patient AUROC",
            "Brier",
            "calibration slope",
            f"onsets alerted ({result['alert_rate']:.0%} of days)",
            "median lead (days)",
        ],
        rows,
    )
    sections = [f"<h2>Tasks</h2>{tasks}"]
    sev = result.get("severity")
    if sev:
        sev_rows = [[f + (" ★" if f == sev["winner"] else ""), m["auroc"]] for f, m in sev["families"].items()]
        sections.append(
            f"<h2>Severe (grade ≥ 3) against non-severe, {sev['horizon_days']} days ahead</h2>"
            f"<p>{sev['n_patients']} patients who develop it ({sev['n_severe']} severe), each scored by the highest "
            "forecast of grade ≥ 3 in the days before the first symptom.</p>"
            + _table(["family (★ kept)", "AUROC"], sev_rows)
        )
    charts = forecast_charts(result)
    divs = "".join(f'<div id="c{i}"></div>' for i in range(len(charts)))
    specs = [json.dumps(c, default=str).replace("</", "<\\/") for c in charts]
    embeds = "".join(f'vegaEmbed("#c{i}", {spec}, {{actions: false}});' for i, spec in enumerate(specs))
    head = (
        f"{html.escape(result['target'].upper())}: {result['n_patients']} patients, {result['n_patient_days']:,} "
        f"patient-days, {html.escape(result['cross_validation'])} (the same folds for every family; window "
        f"classifier learner: {html.escape(result['window_model'])}). ★ = the family kept for the task (highest "
        "per patient-day AUROC; the window classifier on a tie)."
    )
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style>{scripts}</head><body><h1>{html.escape(title)}</h1><p>{head}</p>"
        f"{''.join(sections)}<h2>Charts</h2>{divs}<script>{embeds}</script></body></html>"
    )
