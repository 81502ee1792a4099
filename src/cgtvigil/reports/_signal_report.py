"""A self-contained HTML report of a disproportionality screen (no scripts, no CDN)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jinja2
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["render_signal_report", "write_signal_report"]


def _num(value: Any, digits: int = 2) -> str:
    """A statistic with ``digits`` decimals; a dash where the screen did not compute it (or it is NaN)."""
    if isinstance(value, jinja2.Undefined) or value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cgtvigil.reports", "templates"), autoescape=jinja2.select_autoescape(["html"])
    )
    env.filters["num"] = _num
    return env


def _scatter_svg(rows: list[dict[str, Any]], width: int = 900, height: int = 380) -> str:
    """EB05 (log scale) against n (log scale) as an inline SVG."""
    pts = [(r["n"], r["eb05"], r["drug"], r["event"]) for r in rows if r.get("eb05") and r["eb05"] > 0 and r["n"] > 0]
    if not pts:
        return "<p class='muted'>No pairs to plot.</p>"
    left, right, top, bottom = 60, 20, 15, 40
    max_n = max(p[0] for p in pts)
    ys = [p[1] for p in pts]
    y_lo, y_hi = math.log10(min(min(ys), 0.5)), math.log10(max(max(ys), 4.0))
    x_hi = math.log10(max(max_n, 10))

    def sx(n: float) -> float:
        return left + (width - left - right) * math.log10(n) / x_hi

    def sy(v: float) -> float:
        return top + (height - top - bottom) * (1 - (math.log10(v) - y_lo) / (y_hi - y_lo))

    out = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="EB05 against number of cases">']
    out.append(
        f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
        'fill="#fafbfc" stroke="#ccd3da"/>'
    )
    for v in (0.5, 1, 2, 5, 10, 20, 50, 100):
        if y_lo <= math.log10(v) <= y_hi:
            out.append(
                f'<line x1="{left}" x2="{width - right}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" '
                f'stroke="{"#b3261e" if v == 2 else "#e3e8ee"}" stroke-dasharray="{"5,4" if v == 2 else ""}"/>'
            )
            out.append(f'<text x="{left - 6}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for n in (1, 3, 10, 30, 100, 300, 1000, 3000, 10000):
        if n <= 10**x_hi:
            out.append(f'<text x="{sx(n):.1f}" y="{height - bottom + 16}" text-anchor="middle">{n}</text>')
    out.append(f'<text x="{(left + width) / 2}" y="{height - 6}" text-anchor="middle">cases (n, log scale)</text>')
    out.append(
        f'<text x="14" y="{height / 2}" transform="rotate(-90 14 {height / 2})" '
        'text-anchor="middle">EB05 (log scale)</text>'
    )
    for n, v, drug, event in pts:
        colour = "#b3261e" if v >= 2 else "#4a6b8a"
        out.append(
            f'<circle cx="{sx(n):.1f}" cy="{sy(v):.1f}" r="3" fill="{colour}" fill-opacity="0.6">'
            f"<title>{_esc(drug)} – {_esc(event)}: n={n}, EB05={v:.2f}</title></circle>"
        )
    out.append("</svg>")
    return "".join(out)


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_signal_report(
    table: pa.Table,
    metadata: dict[str, Any],
    *,
    title: str = "CGT signal screen",
    imports: list[dict[str, Any]] | None = None,
    cases: dict[str, int] | None = None,
    notices: list[str] | None = None,
    top: int = 40,
) -> str:
    """Render the HTML report of a screen result."""
    rule_cols = [c for c in table.column_names if c.startswith("sdr_")]
    pts = table.filter(pc.equal(table.column("event_type"), "pt")).to_pylist()
    topics = table.filter(pc.equal(table.column("event_type"), "topic")).to_pylist()
    for r in pts:
        r["rules"] = [c[4:] for c in rule_cols if r.get(c)]
    topic_cols = sorted({r["event"] for r in topics})
    drugs = sorted({r["drug"] for r in topics} | {r["drug"] for r in pts})
    cell = {
        (r["drug"], r["event"]): {"eb05": r.get("eb05"), "n": r["n"], "sdr": bool(r.get("sdr_fda_eb05"))}
        for r in topics
    }
    matrix = [{"drug": d, "cells": [cell.get((d, t)) for t in topic_cols]} for d in drugs]
    cards = [
        ("products screened", len(drugs)),
        ("pairs screened", table.num_rows),
        ("SDRs (FDA EB05 ≥ 2)", sum(1 for r in pts if r.get("sdr_fda_eb05"))),
    ]
    if cases:
        cards = [
            ("cases after de-duplication", f"{cases.get('cases_after_dedup', 0):,}"),
            ("deleted cases excluded", f"{cases.get('deleted_cases', 0):,}"),
            *cards,
        ]
    return (
        _env()
        .get_template("signal_report.html")
        .render(
            title=title,
            meta=metadata,
            notices=notices or [],
            cards=cards,
            topic_cols=topic_cols,
            topic_matrix=matrix,
            topic_names=metadata.get("dictionaries", {}).get("topic_names", {}),
            top_pts=pts[:top],
            scatter=_scatter_svg(pts),
            imports=imports,
            meta_json=json.dumps(metadata, indent=1, default=str),
        )
    )


def write_signal_report(path: Path, table: pa.Table, metadata: dict[str, Any], **kwargs: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_signal_report(table, metadata, **kwargs), "utf-8")
    return path
