"""Every chart of the pages as a Vega-Lite specification, built in one place from the query
services' view models (drawn by vega-embed in the browser; no inline script)."""

import functools
import json
import math
from typing import Any
from urllib.parse import quote_plus

from cgtvigil.followup import Retention, RiskEvaluation
from cgtvigil.genotox import CloneShare, VectorPoint
from cgtvigil.monitoring import ObservationSeries, RiskCurveView
from cgtvigil.risk_management import IndicatorSeries
from cgtvigil.screening import OnsetView, ProductProfile, QuarterStatistic, SignalPoint

__all__ = [
    "LABELS",
    "clone_charts",
    "encode",
    "indicator_chart",
    "onset_chart",
    "patient_charts",
    "product_chart",
    "retention_charts",
    "risk_curve",
    "signal_scatter",
    "trend_chart",
    "vector_charts",
]

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
LABELS = {
    "temperature": "Temperature",
    "crs_grade": "CRS grade",
    "icans_grade": "ICANS grade",
    "anc": "ANC",
    "plt": "Platelets",
    "wbc": "WBC",
    "crp": "CRP",
    "ferritin": "Ferritin",
    "il6": "IL-6",
    "heart_rate": "Heart rate",
    "spo2": "SpO2",
}
FEVER_C = 38.0
EB05_LINE = 2.0


def encode(spec: dict[str, Any]) -> str:
    """A spec for a ``data-vega='...'`` attribute: JSON, escaped by Jinja (``'`` included) where
    the page writes it. (Escaping the quote here as well made a name with an apostrophe show as
    "&#39;" in the chart: the browser decodes the attribute once.)"""
    return json.dumps(spec)


def signal_scatter(rows: list[SignalPoint]) -> dict[str, Any]:
    """EB05 against n on log scales, the EB05 = 2 rule as a line; a point opens its cases."""
    quote = functools.lru_cache(maxsize=4096)(quote_plus)  # names repeat among the points
    values = [
        {
            "n": r.n,
            "eb05": r.eb05,
            "pair": f"{r.drug} – {r.event_label}",
            "sdr": "EB05 ≥ 2" if r.eb05 >= EB05_LINE else "EB05 < 2",
            "href": f"/signals/cases?drug={quote(r.drug)}&event={quote(r.event)}" if r.event_type == "pt" else "",
        }
        for r in rows
        if r.eb05
    ]
    return {
        "$schema": SCHEMA,
        "width": "container",
        "height": 260,
        "layer": [
            {
                "data": {"values": values},
                "mark": {"type": "point", "filled": True, "opacity": 0.7, "cursor": "pointer"},
                "encoding": {
                    "x": {"field": "n", "type": "quantitative", "scale": {"type": "log"}, "title": "cases (n)"},
                    "y": {"field": "eb05", "type": "quantitative", "scale": {"type": "log"}, "title": "EB05"},
                    "color": {"field": "sdr", "type": "nominal", "title": "FDA rule", "sort": ["EB05 ≥ 2", "EB05 < 2"]},
                    "href": {"field": "href"},
                    "tooltip": [{"field": "pair", "title": "pair"}, {"field": "n"}, {"field": "eb05", "format": ".2f"}],
                },
            },
            {
                "data": {"values": [{"y": EB05_LINE}]},
                "mark": {"type": "rule", "strokeDash": [4, 4], "color": "#555"},
                "encoding": {"y": {"field": "y", "type": "quantitative"}},
            },
        ],
    }


def trend_chart(by_quarter: list[QuarterStatistic]) -> dict[str, Any]:
    """IC025 and the ROR lower bound by quarter on separate axes (log2 scale against a ratio)."""
    values = [s.model_dump() for s in by_quarter]

    def panel(statistic: str, title: str, threshold: float) -> dict[str, Any]:
        return {
            "width": "container",
            "height": 140,
            "layer": [
                {
                    "transform": [{"filter": {"field": "statistic", "equal": statistic}}],
                    "mark": {"type": "line", "point": True},
                    "encoding": {
                        "x": {"field": "quarter", "type": "ordinal", "title": "data up to quarter"},
                        "y": {"field": "value", "type": "quantitative", "title": title},
                        "tooltip": [{"field": "quarter"}, {"field": "value", "format": ".2f"}, {"field": "n"}],
                    },
                },
                {
                    "data": {"values": [{"t": threshold}]},
                    "mark": {"type": "rule", "strokeDash": [4, 4], "color": "#555"},
                    "encoding": {"y": {"field": "t", "type": "quantitative"}},
                },
            ],
        }

    return {
        "$schema": SCHEMA,
        "data": {"values": values},
        "vconcat": [panel("IC025", "IC025 (log2)", 0.0), panel("ROR lower 95%", "ROR lower 95% bound", 1.0)],
    }


def product_chart(profile: ProductProfile) -> dict[str, Any]:
    bars = [
        {"topic": e.label, "who": who, "eb05": v}
        for e in profile.events
        if e.event_type == "topic"
        for who, v in ((profile.brand, e.eb05), (f"{profile.product_class} mean", e.class_eb05))
        if v is not None
    ]
    return {
        "$schema": SCHEMA,
        "width": "container",
        "height": 240,
        "data": {"values": bars},
        "mark": "bar",
        "encoding": {
            "y": {"field": "topic", "type": "nominal", "title": None},
            "x": {"field": "eb05", "type": "quantitative", "title": "EB05"},
            "yOffset": {"field": "who"},
            "color": {"field": "who", "type": "nominal", "title": None},
        },
    }


def _chart(values: list[dict[str, Any]], title: str, *, step: bool, extra: list[dict[str, Any]]) -> dict[str, Any]:
    x = {"field": "day", "type": "quantitative", "title": "days since infusion"}
    return {
        "$schema": SCHEMA,
        "width": "container",
        "height": 180,
        "layer": [
            {
                "data": {"values": values},
                "mark": {"type": "line", "interpolate": "step-after" if step else "linear", "point": len(values) < 60},
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "value",
                        "type": "quantitative",
                        "title": title,
                        "scale": {"zero": step, **({"domain": [0, 5]} if step else {})},
                        **({"axis": {"tickMinStep": 1}} if step else {}),
                    },
                    "color": {"field": "series", "type": "nominal", "title": None, "legend": {"orient": "top"}},
                    "tooltip": [
                        {"field": "series", "title": "measure"},
                        {"field": "value", "title": "value"},
                        {"field": "unit", "title": "unit"},
                        {"field": "time", "type": "temporal", "title": "time (UTC)", "format": "%Y-%m-%d %H:%M"},
                        {"field": "day", "title": "day", "format": ".1f"},
                    ],
                },
            },
            {
                "data": {"values": [{"day": 0, "label": "infusion (day 0)"}]},
                "mark": {"type": "rule", "color": "#333"},
                "encoding": {"x": {"field": "day", "type": "quantitative"}, "tooltip": [{"field": "label"}]},
            },
            *extra,
        ],
    }


def patient_charts(series: list[ObservationSeries]) -> list[dict[str, Any]]:
    """Temperature (38 °C line), CRS/ICANS grades as steps, blood counts (ANC, platelets, WBC),
    CRP: x in days since infusion with the time on hover, a day-0 marker, named legends."""
    out = []
    for kinds, title, step, extra in (
        (
            ("temperature",),
            "Temperature (°C)",
            False,
            [
                {
                    "data": {"values": [{"t": FEVER_C, "label": "fever 38 °C"}]},
                    "mark": {"type": "rule", "strokeDash": [4, 4], "color": "#b00020"},
                    "encoding": {"y": {"field": "t", "type": "quantitative"}, "tooltip": [{"field": "label"}]},
                }
            ],
        ),
        (("crs_grade", "icans_grade"), "Grade (ASTCT)", True, []),
        (("anc", "plt", "wbc"), "Blood counts (10^9/L)", False, []),
        (("crp",), "CRP (mg/dL)", False, []),
    ):
        values: list[dict[str, Any]] = [
            {
                "series": LABELS.get(s.kind, s.kind),
                "value": value,
                "unit": s.unit,
                "time": time.isoformat().replace("+00:00", "Z"),
                "day": day,
            }
            for s in series
            if s.kind in kinds
            for time, value, day in zip(s.times, s.values, s.days, strict=True)
            if day is not None
        ]
        if values:
            values.sort(key=lambda v: v["day"])
            out.append({"title": title, "spec": encode(_chart(values, title, step=step, extra=extra))})
    return out


def risk_curve(curves: list[RiskCurveView]) -> dict[str, Any]:
    """The forecast risk by day since infusion: one line per outcome (CRS/ICANS onset, grade >= 3)
    over its bootstrap band (shaded, where the model has refits), each outcome's alert threshold
    as a dashed rule in its colour; outcomes already reached are not drawn."""
    shown = [c for c in curves if not c.reached]
    values = [
        {
            "outcome": f"{c.target} {c.outcome}",
            "day": p.day,
            "ahead": p.ahead,
            "risk": p.risk,
            "low": p.low,
            "high": p.high,
        }
        for c in shown
        for p in c.points
    ]
    rules = [{"outcome": f"{c.target} {c.outcome}", "threshold": c.threshold} for c in shown]
    x = {"field": "day", "type": "quantitative", "title": "days since infusion", "axis": {"tickMinStep": 1}}
    y = {"field": "risk", "type": "quantitative", "title": "risk by that day", "axis": {"format": ".0%"}}
    color = {"field": "outcome", "type": "nominal", "title": None, "legend": {"orient": "top"}}
    return {
        "$schema": SCHEMA,
        "width": "container",
        "height": 200,
        "layer": [
            {
                "data": {"values": [v for v in values if v["low"] is not None]},
                "mark": {"type": "area", "opacity": 0.18},
                "encoding": {
                    "x": x,
                    "y": {"field": "low", "type": "quantitative", "scale": {"domain": [0, 1]}},
                    "y2": {"field": "high"},
                    "color": color,
                },
            },
            {
                "data": {"values": values},
                "mark": {"type": "line", "point": True},
                "encoding": {
                    "x": x,
                    "y": y,
                    "color": color,
                    "tooltip": [
                        {"field": "outcome"},
                        {"field": "day", "title": "day since infusion"},
                        {"field": "ahead", "title": "days ahead"},
                        {"field": "risk", "format": ".1%"},
                        {"field": "low", "title": "band low", "format": ".1%"},
                        {"field": "high", "title": "band high", "format": ".1%"},
                    ],
                },
            },
            {
                "data": {"values": rules},
                "mark": {"type": "rule", "strokeDash": [4, 4], "opacity": 0.7},
                "encoding": {
                    "y": {"field": "threshold", "type": "quantitative"},
                    "color": color,
                    "tooltip": [{"field": "outcome"}, {"field": "threshold", "title": "alert at", "format": ".0%"}],
                },
            },
        ],
    }


ONSET_BINS = 20


def onset_chart(view: OnsetView) -> dict[str, Any]:
    """Days from the therapy start to the event: a histogram of the onsets (interval midpoints)
    and, with a Weibull fit, the count each bin expects under the fit (points on a line)."""
    mids = [(o.lower + o.upper) / 2 for o in view.onsets]
    top = max([*mids, 1.0])
    width = top / ONSET_BINS
    counts = [0] * ONSET_BINS
    for m in mids:
        counts[min(int(m / width), ONSET_BINS - 1)] += 1
    bars = [{"start": i * width, "end": (i + 1) * width, "onsets": c} for i, c in enumerate(counts)]
    x = {"field": "start", "type": "quantitative", "title": "days after the therapy start (interval midpoints)"}
    layers: list[dict[str, Any]] = [
        {
            "data": {"values": bars},
            "mark": {"type": "bar", "color": "#4c78a8"},
            "encoding": {
                "x": x,
                "x2": {"field": "end"},
                "y": {"field": "onsets", "type": "quantitative", "title": "reports"},
                "tooltip": [
                    {"field": "start", "format": ".0f"},
                    {"field": "end", "format": ".0f"},
                    {"field": "onsets"},
                ],
            },
        }
    ]
    if view.fit is not None:
        k, lam, n = view.fit.shape, view.fit.scale, len(mids)

        def cdf(t: float) -> float:
            return 1 - math.exp(-((t / lam) ** k))

        expected = [
            {"mid": (b["start"] + b["end"]) / 2, "expected": n * (cdf(b["end"]) - cdf(b["start"]))} for b in bars
        ]
        layers.append(
            {
                "data": {"values": expected},
                "mark": {"type": "line", "point": True, "color": "#e45756"},
                "encoding": {
                    "x": {"field": "mid", "type": "quantitative"},
                    "y": {"field": "expected", "type": "quantitative"},
                    "tooltip": [{"field": "mid", "format": ".0f"}, {"field": "expected", "format": ".1f"}],
                },
            }
        )
    return {"$schema": SCHEMA, "width": "container", "height": 200, "layer": layers}


CLONE_COLOURS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]


def clone_charts(clones: list[CloneShare]) -> list[dict[str, Any]]:
    """Per cell type: the share of each top clone (IS) at each time point as stacked bars, the
    rest of the sample as 'other' (grey), ordered by months since treatment."""
    out = []
    for series in sorted({c.series for c in clones}):
        rows = [c for c in clones if c.series == series]
        values: list[dict[str, Any]] = [
            {
                "clone": c.clone,
                "label": f"{c.clone} {c.gene}".strip() if c.clone != "other" else "other IS",
                "gene": c.gene,
                "time": f"{c.time_point} ({c.months:.1f} m)",
                "months": c.months,
                "percent": 100 * c.fraction,
            }
            for c in rows
        ]
        ranked = sorted(values, key=lambda v: -float(v["percent"]))
        labels = list(dict.fromkeys(str(v["label"]) for v in ranked if v["clone"] != "other"))
        for v in values:  # the largest clone at the bottom of each bar, the rest of the sample on top
            v["rank"] = labels.index(v["label"]) if v["clone"] != "other" else len(labels)
        spec = {
            "$schema": SCHEMA,
            "width": "container",
            "height": 240,
            "data": {"values": values},
            "mark": "bar",
            "encoding": {
                "x": {
                    "field": "time",
                    "type": "ordinal",
                    "sort": {"field": "months"},
                    "title": "time point (months since treatment)",
                    "axis": {"labelAngle": 0},
                },
                "y": {
                    "field": "percent",
                    "type": "quantitative",
                    "stack": "zero",
                    "title": "% of the sample",
                    "scale": {"domain": [0, 100]},
                },
                "color": {
                    "field": "label",
                    "type": "nominal",
                    "title": "clone (IS, nearest gene)",
                    "scale": {"domain": [*labels, "other IS"], "range": [*CLONE_COLOURS[: len(labels)], "#d9d9d9"]},
                    "legend": {"orient": "right", "labelLimit": 260},
                },
                "order": {"field": "rank", "type": "quantitative"},
                "tooltip": [
                    {"field": "label", "title": "clone"},
                    {"field": "time", "title": "time point"},
                    {"field": "percent", "title": "% of sample", "format": ".2f"},
                ],
            },
        }
        out.append({"title": f"Clonal abundance: {series} (top {len(labels)} clones)", "spec": encode(spec)})
    return out


def vector_charts(points: list[VectorPoint]) -> list[dict[str, Any]]:
    """Vector copy number and CAR-transgene persistence over months since treatment, a line per
    cell type (the transgene on a log scale)."""
    out = []
    for kind, title in (("vcn", "Vector copy number"), ("car_transgene", "CAR-transgene persistence")):
        rows = [p for p in points if p.kind == kind]
        if not rows:
            continue
        unit = ", ".join(sorted({p.unit for p in rows}))
        values = [
            {"months": p.months, "value": p.value, "cells": p.cell_type or "all", "unit": p.unit, "method": p.method}
            for p in rows
        ]
        spec = {
            "$schema": SCHEMA,
            "width": "container",
            "height": 200,
            "data": {"values": values},
            "mark": {"type": "line", "point": True},
            "encoding": {
                "x": {"field": "months", "type": "quantitative", "title": "months since treatment"},
                "y": {
                    "field": "value",
                    "type": "quantitative",
                    "title": f"{title} ({unit})",
                    "scale": {"type": "log"} if kind == "car_transgene" else {"zero": True},
                },
                "color": {"field": "cells", "type": "nominal", "title": None, "legend": {"orient": "top"}},
                "tooltip": [
                    {"field": "cells"},
                    {"field": "months", "format": ".1f"},
                    {"field": "value"},
                    {"field": "unit"},
                    {"field": "method"},
                ],
            },
        }
        out.append({"title": f"{title} ({unit})", "spec": encode(spec)})
    return out


def indicator_chart(series: IndicatorSeries) -> dict[str, Any]:
    """An effectiveness indicator by infusion quarter against its target (dashed rule);
    withheld quarters (fewer than 5 patients for an aggregate reader) are left out."""
    share = series.unit == "share"
    values = [
        {
            "quarter": p.period,
            "value": p.value,
            "n": p.denominator,
            "met": "target met" if p.met else "target not met",
        }
        for p in series.points
        if p.value is not None
    ]
    x = {"field": "quarter", "type": "ordinal", "title": "infusion quarter"}
    y = {
        "field": "value",
        "type": "quantitative",
        "title": "share of the population" if share else "hours (median)",
        **({"axis": {"format": ".0%"}, "scale": {"domain": [0, 1]}} if share else {}),
    }
    return {
        "$schema": SCHEMA,
        "width": "container",
        "height": 160,
        "title": series.name,
        "layer": [
            {
                "data": {"values": values},
                "mark": {"type": "line", "color": "#4a6b8a"},
                "encoding": {"x": x, "y": y},
            },
            {
                "data": {"values": values},
                "mark": {"type": "point", "filled": True, "size": 70},
                "encoding": {
                    "x": x,
                    "y": y,
                    "color": {
                        "field": "met",
                        "type": "nominal",
                        "scale": {"domain": ["target met", "target not met"], "range": ["#2e7d32", "#b3261e"]},
                        "title": None,
                    },
                    "tooltip": [
                        {"field": "quarter"},
                        {"field": "value", "format": ".2f"},
                        {"field": "n", "title": "population"},
                    ],
                },
            },
            {
                "data": {"values": [{"target": series.target}]},
                "mark": {"type": "rule", "strokeDash": [5, 4], "color": "#555"},
                "encoding": {"y": {"field": "target", "type": "quantitative"}},
            },
        ],
    }


def retention_charts(found: Retention, evaluation: RiskEvaluation | None = None) -> list[dict[str, Any]]:
    """Long-term follow-up retention: Kaplan–Meier curves per group (95 % band), missed-visit
    rates per group with Wilson intervals, and the risk score's calibration on held-out patients.
    Suppressed groups are not drawn."""
    curves = [
        {"group": g.group, "years": k.years, "retained": k.retained, "lower": k.lower, "upper": k.upper}
        for g in found.groups
        for k in g.km
    ]
    x = {"field": "years", "type": "quantitative", "title": "years since infusion"}
    km = {
        "$schema": SCHEMA,
        "width": "container",
        "height": 260,
        "data": {"values": curves},
        "layer": [
            {
                "mark": {"type": "area", "opacity": 0.15, "interpolate": "step-after"},
                "encoding": {
                    "x": x,
                    "y": {"field": "lower", "type": "quantitative"},
                    "y2": {"field": "upper"},
                    "color": {"field": "group", "type": "nominal", "title": found.by.replace("_", " ")},
                },
            },
            {
                "mark": {"type": "line", "interpolate": "step-after"},
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "retained",
                        "type": "quantitative",
                        "title": "still followed",
                        "scale": {"domain": [0, 1]},
                    },
                    "color": {"field": "group", "type": "nominal", "title": found.by.replace("_", " ")},
                    "tooltip": [
                        {"field": "group"},
                        {"field": "years", "format": ".1f"},
                        {"field": "retained", "format": ".2f"},
                    ],
                },
            },
        ],
    }
    rates = [
        {"group": g.group, "rate": g.missed_rate, "low": g.missed_low, "high": g.missed_high}
        for g in found.groups
        if g.missed_rate is not None
    ]
    y = {"field": "group", "type": "nominal", "title": found.by.replace("_", " ")}
    bars = {
        "$schema": SCHEMA,
        "width": "container",
        "height": {"step": 22},
        "data": {"values": rates},
        "layer": [
            {
                "mark": "point",
                "encoding": {
                    "y": y,
                    "x": {
                        "field": "rate",
                        "type": "quantitative",
                        "title": "missed visits (share, 95 % CI)",
                        "axis": {"format": "%"},
                    },
                    "tooltip": [{"field": "group"}, {"field": "rate", "format": ".1%"}],
                },
            },
            {
                "mark": "rule",
                "encoding": {"y": y, "x": {"field": "low", "type": "quantitative"}, "x2": {"field": "high"}},
            },
        ],
    }
    out = [
        {"title": f"Retention by {found.by.replace('_', ' ')} (Kaplan–Meier, 95 % band)", "spec": encode(km)},
        {"title": f"Missed visits by {found.by.replace('_', ' ')}", "spec": encode(bars)},
    ]
    if evaluation is not None:
        cal = [b.model_dump() for b in evaluation.calibration]
        out.append(
            {
                "title": "Risk score calibration (held-out patients)",
                "spec": encode(
                    {
                        "$schema": SCHEMA,
                        "width": "container",
                        "height": 220,
                        "layer": [
                            {
                                "data": {"values": cal},
                                "mark": {"type": "point", "filled": True},
                                "encoding": {
                                    "x": {"field": "predicted", "type": "quantitative", "title": "predicted risk"},
                                    "y": {"field": "observed", "type": "quantitative", "title": "observed share lost"},
                                    "size": {"field": "rows", "type": "quantitative"},
                                },
                            },
                            {
                                "data": {
                                    "values": [
                                        {"v": 0},
                                        {
                                            "v": max(
                                                [0.3, *(b["observed"] for b in cal), *(b["predicted"] for b in cal)]
                                            )
                                        },
                                    ]
                                },
                                "mark": {"type": "line", "strokeDash": [4, 4], "color": "#555"},
                                "encoding": {
                                    "x": {"field": "v", "type": "quantitative"},
                                    "y": {"field": "v", "type": "quantitative"},
                                },
                            },
                        ],
                    }
                ),
            }
        )
    return out
