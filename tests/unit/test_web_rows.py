"""The table rows that the signals page and the monitoring board build in Python (for CPU per
request) are the same bytes as the Jinja template markup they replace, escaping included."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from jinja2 import Environment

import cgtvigil.web
from cgtvigil.monitoring import BoardRow
from cgtvigil.screening import SignalRow
from cgtvigil.web._render import TEMPLATES, path_segment, time_tag
from cgtvigil.web.monitoring import board_rows
from cgtvigil.web.signals import signal_table_rows

# The template markup as it was before the rows moved to Python (signals.html, monitoring.html).
SIGNAL_ROWS = (
    '{% set back = filter_query|urlencode %}{% for r in screen.rows %}<tr class="{% if r.rules %}sdr{% endif %}">'
    '<td>{% if r.product_id %}<a href="/products/{{ r.product_id }}">{{ r.drug }}</a>{% else %}{{ r.drug }}'
    "{% endif %}</td><td>{{ r.event_label }}</td><td>{{ r.event_type }}</td><td>{{ r.n }}</td>"
    "{% for v in (r.expected, r.prr, r.ror_lower, r.ic025, r.ebgm, r.eb05) %}"
    '<td>{{ "%.2f"|format(v) if v is not none else "–" }}</td>{% endfor %}{% if screen.ranked %}<td>'
    '{% if r.priority is not none %}{{ r.priority }} <small class="muted">p={{ "%.2f"|format(r.priority_score) }}; '
    '{{ r.priority_explanation }}</small>{% else %}–{% endif %}</td>{% endif %}<td>{{ r.rules|join(", ") }}</td>\n'
    '<td>{% if r.event_type == "pt" %}<a href="/signals/cases?drug={{ r.drug|urlencode }}&amp;event='
    '{{ r.event|urlencode }}&amp;back={{ back }}">cases</a>{% endif %}{% if can_open_signal %} '
    '<a class="open-signal" href="/workflow/signals/new?drug={{ r.drug|urlencode }}&amp;level={{ r.event_type }}'
    '&amp;event={{ r.event|urlencode }}">open a signal</a>{% endif %}</td></tr>{% endfor %}'
)
BOARD_ROWS = (
    '{% for p in board.rows %}<tr class="sev-{{ p.worst or \'none\' }}"><td><a href="/patients/{{ p.id }}">'
    '{{ p.id }}</a></td><td>{{ p.site }}</td><td>{{ p.product or "–" }}</td>'
    '<td>{{ p.day if p.day is not none else "–" }}</td><td>{{ p.open }}</td><td>{{ p.worst or "–" }}</td>'
    "<td class=\"{{ 'overdue' if p.overdue }}\">{% if p.next_deadline %}{{ p.next_deadline|when }}"
    '{% if p.overdue %} <b>overdue</b>{% endif %}{% else %}–{% endif %}</td><td>{{ p.escalated or "" }}</td>'
    '<td class="notified-{{ p.notified or \'none\' }}">{{ p.notified or "" }}</td></tr>{% endfor %}'
)

HOSTILE = ['<script>alert("x")</script>', "O'Brien & Sons", "naïve – ü/ä?x=1&y=2", "a b+c%20#frag", ""]


def _env() -> Environment:
    env = Environment(autoescape=True)
    env.filters["when"] = time_tag
    return env


def _signal_rows() -> list[SignalRow]:
    rows = []
    for i, text in enumerate(HOSTILE):
        rows.append(
            SignalRow(
                drug=text or "KYMRIAH",
                product_id=("kymriah" if i % 2 else None) if i != 3 else text,
                event_type="pt" if i % 3 else "topic",
                event=text[::-1] or "CRS",
                event_label=f"{text} label",
                n=i * 7,
                expected=None if i == 1 else 0.123456 * i,
                prr=float("inf") if i == 2 else 2.5,
                ror_lower=-1.005,
                ic025=None,
                ebgm=1234567.891,
                eb05=0.0,
                rules=[] if i == 0 else ["ema_ror", text, "who_ic025"][: i % 3 + 1],
                priority=None if i == 4 else i + 1,
                priority_score=0.4567 if i != 4 else None,
                priority_explanation=None if i == 2 else f"n {text}",
            )
        )
    return rows


@pytest.mark.parametrize("ranked", [False, True])
@pytest.mark.parametrize("can_open", [False, True])
def test_signal_rows_match_the_template(ranked: bool, can_open: bool) -> None:
    rows = _signal_rows()
    back = "q=<b>&sort=eb05&order=desc&product=O'Brien & ü"

    class Screen:
        pass

    screen = Screen()
    screen.rows, screen.ranked = rows, ranked  # type: ignore[attr-defined]
    expected = _env().from_string(SIGNAL_ROWS).render(screen=screen, filter_query=back, can_open_signal=can_open)
    got = signal_table_rows(rows, ranked=ranked, back=back, can_open_signal=can_open)
    assert str(got) == expected
    assert "<script>" not in got and "&lt;script&gt;" in got


def test_board_rows_match_the_template() -> None:
    t = datetime(2026, 12, 2, 13, 5, tzinfo=UTC)
    rows = [
        BoardRow(
            id="B-0001",
            site="A",
            product="Kymriah",
            day=3,
            open=2,
            worst="critical",
            escalated=1,
            next_deadline=t,
            overdue=True,
            notified="sent",
        ),
        BoardRow(id='<x id="1">&', site="O'B", product="", day=None, open=0),
        BoardRow(
            id="B-0003",
            site="B",
            product="ü – é",
            day=0,
            open=1,
            worst="high",
            escalated=0,
            next_deadline=t,
            overdue=False,
            notified="nobody",
        ),
    ]

    class Board:
        pass

    board = Board()
    board.rows = rows  # type: ignore[attr-defined]
    expected = _env().from_string(BOARD_ROWS).render(board=board)
    got = board_rows(rows)
    assert str(got) == expected
    assert "&lt;x id=&#34;1&#34;&gt;&amp;" in got


def test_a_chart_spec_reaches_the_browser_as_it_was() -> None:
    """A name with an apostrophe, quotes or markup in a chart: the attribute the page writes
    decodes (as a browser does, once) to the spec's own JSON."""
    import html
    import json
    import re

    from markupsafe import escape

    from cgtvigil.web._charts import encode

    spec = {"title": 'O\'Brien & "Sons" <b>', "values": [{"pair": "KYMRIAH – CRS's"}]}
    page = _env().from_string("<div data-vega='{{ spec }}'></div>").render(spec=encode(spec))
    attribute = re.fullmatch(r"<div data-vega='([^']*)'></div>", page)
    assert attribute is not None
    assert json.loads(html.unescape(attribute.group(1))) == spec
    assert str(escape(encode(spec))) == attribute.group(1)  # the signals page's cached form


def test_a_case_id_is_one_path_segment_in_the_case_links() -> None:
    """Issue 10 note: Jinja's ``urlencode`` kept "/" and the links took "?" and "#" from the id
    as the start of a query or fragment."""
    assert path_segment("GB-CO 12/3?x#y&z%") == "GB-CO%2012%2F3%3Fx%23y%26z%25"
    assert TEMPLATES.env.from_string("{{ r.case_id|segment }}").render(r={"case_id": "A/1?b#c"}) == "A%2F1%3Fb%23c"
    folder = Path(cgtvigil.web.__file__).parent / "templates"
    source = (folder / "icsr_list.html").read_text() + (folder / "icsr_case.html").read_text()
    assert "case_id|urlencode" not in source and source.count("case_id|segment") == 4
