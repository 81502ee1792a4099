"""The HTML report of long-term follow-up retention (issue 12 §4): the Kaplan–Meier curve of
time to loss to follow-up per group (with its 95 % band), drawn as inline SVG (no scripts, no
CDN: the file opens offline and prints), and the missed-visit table with Wilson 95 % intervals.

Every count goes through the one suppression path (:func:`cgtvigil.privacy.suppress_small_cells`)
once more here, so that a ``Retention`` built by other means cannot print a small cell: a group
with a suppressed count shows neither a rate nor a curve."""

from __future__ import annotations

import html
from pathlib import Path

from cgtvigil.followup import GroupRetention, Retention, RiskEvaluation
from cgtvigil.privacy import suppress_small_cells

__all__ = ["render_retention_report", "retention_groups_shown", "write_retention_report"]

_COUNTS = ("patients", "lost", "visits_due", "missed")
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
_W, _H, _PAD = 640, 320, 48


def retention_groups_shown(found: Retention) -> list[GroupRetention]:
    """The groups as the report shows them: counts under the threshold replaced by the marker,
    and the rate and curve of any group with a suppressed count dropped."""
    rows = [{c: getattr(g, c) for c in _COUNTS} for g in found.groups]
    shown = suppress_small_cells(rows, list(_COUNTS), threshold=found.suppressed_below)
    out = []
    for g, cells in zip(found.groups, shown, strict=True):
        hidden = cells["suppressed"] or g.suppressed or any(isinstance(cells[c], str) for c in _COUNTS)
        update: dict[str, object] = {c: cells[c] for c in _COUNTS} | {"suppressed": hidden}
        if hidden:
            update |= {"missed_rate": None, "missed_low": None, "missed_high": None, "retained_5y": None, "km": []}
        out.append(g.model_copy(update=update))
    return out


def _x(years: float, span: float) -> float:
    return _PAD + (_W - 2 * _PAD) * years / span


def _y(p: float) -> float:
    return _H - _PAD - (_H - 2 * _PAD) * p


def _steps(points: list[tuple[float, float]], span: float) -> str:
    """An SVG path of a step function through (years, value) points."""
    if not points:
        return ""
    parts = [f"M{_x(points[0][0], span):.1f},{_y(points[0][1]):.1f}"]
    parts += [f"H{_x(t, span):.1f}V{_y(v):.1f}" for t, v in points[1:]]
    return "".join(parts)


def _km_svg(groups: list[GroupRetention]) -> str:
    curves = [g for g in groups if g.km]
    if not curves:
        return "<p>No curve can be drawn: every group has a suppressed count.</p>"
    span = max(max(p.years for p in g.km) for g in curves) or 1.0
    span = float(int(span) + 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img" '
        'aria-label="Kaplan-Meier retention by group" id="km">',
        f'<rect x="{_PAD}" y="{_PAD}" width="{_W - 2 * _PAD}" height="{_H - 2 * _PAD}" fill="none" stroke="#999"/>',
    ]
    for k in range(0, 11, 2):
        y = _y(k / 10)
        out.append(f'<text x="{_PAD - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{k / 10:.1f}</text>')
    step = max(1, int(span) // 8)
    for t in range(0, int(span) + 1, step):
        out.append(f'<text x="{_x(t, span):.1f}" y="{_H - _PAD + 16}" font-size="11" text-anchor="middle">{t}</text>')
    out.append(f'<text x="{_W / 2}" y="{_H - 8}" font-size="12" text-anchor="middle">years since infusion</text>')
    out.append(
        f'<text x="14" y="{_H / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {_H / 2})">'
        "still followed</text>"
    )
    for i, g in enumerate(curves):
        colour = _COLOURS[i % len(_COLOURS)]
        start = [(0.0, 1.0)]
        mid = _steps(start + [(p.years, p.retained) for p in g.km], span)
        low = _steps(start + [(p.years, p.lower) for p in g.km], span)
        high = _steps(start + [(p.years, p.upper) for p in g.km], span)
        out.append(f'<path d="{high}" fill="none" stroke="{colour}" stroke-opacity="0.35" stroke-dasharray="3 3"/>')
        out.append(f'<path d="{low}" fill="none" stroke="{colour}" stroke-opacity="0.35" stroke-dasharray="3 3"/>')
        out.append(f'<path d="{mid}" fill="none" stroke="{colour}" stroke-width="2" class="km-curve"/>')
        out.append(
            f'<text x="{_W - _PAD + 4}" y="{_PAD + 14 * (i + 1)}" font-size="11" fill="{colour}">'
            f"{html.escape(g.group)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.1%}"


def render_retention_report(found: Retention, evaluation: RiskEvaluation | None = None) -> str:
    """The report as one HTML document.

    Examples
    --------
    >>> from datetime import date
    >>> from cgtvigil.followup import GroupRetention, Retention
    >>> r = Retention(by="site", today=date(2026, 1, 1), rule_version="R1", patients=12,
    ...     groups=[GroupRetention(group="A", patients=12, lost=3, visits_due=40, missed=2)])
    >>> "<td>&lt;5</td>" in render_retention_report(r)  # 2 missed visits and 3 losses are small cells
    True
    """
    groups = retention_groups_shown(found)
    rows = "".join(
        f"<tr{' class=suppressed' if g.suppressed else ''}><td>{html.escape(g.group)}</td>"
        + "".join(f"<td>{html.escape(str(getattr(g, c)))}</td>" for c in _COUNTS)
        + f"<td>{_pct(g.missed_rate)}</td>"
        + f"<td>{_pct(g.missed_low)} – {_pct(g.missed_high)}</td>"
        + f"<td>{'–' if g.retained_5y is None else f'{g.retained_5y:.2f}'}</td></tr>"
        for g in groups
    )
    risk = ""
    if evaluation is not None:
        coefficients = "".join(
            f"<li>{html.escape(evaluation.features.get(name, name))}: {coef:+.2f} log-odds per SD</li>"
            for name, coef in sorted(evaluation.coefficients.items(), key=lambda kv: -abs(kv[1]))
        )
        risk = (
            f"<h2>Loss-to-follow-up risk score</h2><p>AUROC {evaluation.auroc:.3f}, Brier {evaluation.brier:.3f} "
            f"on {evaluation.patients_test} held-out patients ({evaluation.losses_test} losses within "
            f"{evaluation.horizon_years} years); fitted on {evaluation.patients_train}.</p><ul>{coefficients}</ul>"
        )
    logrank = (
        "" if found.logrank_p is None else f"<p>Log-rank test across the groups drawn: p = {found.logrank_p:.3g}</p>"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>cgtvigil follow-up retention by {html.escape(found.by)}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.25rem .5rem;text-align:right}"
        "td:first-child,th:first-child{text-align:left}.suppressed{color:#666}.muted{color:#555}</style></head><body>"
        f"<h1>Long-term follow-up retention by {html.escape(found.by.replace('_', ' '))}</h1>"
        f"<p class='muted'>{found.today} · {found.patients} patients · LTFU rules {html.escape(found.rule_version)} · "
        f"counts from 1 to {found.suppressed_below - 1} are shown as &lt;{found.suppressed_below}; a group with a "
        "suppressed count shows neither a rate nor a curve.</p>"
        "<h2>Kaplan–Meier: time to loss to follow-up</h2>"
        f"{_km_svg(groups)}<p class='muted'>Dashed: 95% confidence band (lifelines, exponential Greenwood).</p>"
        f"{logrank}<h2>Missed visits</h2><table id='missed'><thead><tr><th>group</th><th>patients</th><th>lost</th>"
        "<th>visits due</th><th>missed</th><th>missed rate</th><th>Wilson 95% CI</th><th>retained at 5 y</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>{risk}</body></html>"
    )


def write_retention_report(path: Path, found: Retention, evaluation: RiskEvaluation | None = None) -> Path:
    """Write :func:`render_retention_report` to ``path`` (UTF-8); returns the path."""
    path.write_text(render_retention_report(found, evaluation), "utf-8")
    return path
