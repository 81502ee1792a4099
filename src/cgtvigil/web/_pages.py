"""Server-rendered pages (Jinja2 + HTMX, charts as Vega-Lite specs drawn by vega-embed).

Every route checks the role; patient-level reads and every write go to the audit trail.
"""

import functools
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import case, func, select

from cgtvigil.access import can_view_patient
from cgtvigil.audit import append_audit
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError
from cgtvigil.ingest import CGT_SYMPTOM_ITEMS, read_questionnaire_response
from cgtvigil.monitoring import (
    ACTIVE,
    MonitoringRules,
    acknowledge,
    deliver_due,
    evaluate_patient,
    notification_states,
    patients_notified,
    resolve,
    store_observations,
)
from cgtvigil.privacy import suppress_small_cells
from cgtvigil.store import AlertRow, ObservationRow, PatientRow, TreatmentRow, UserRow, load_products
from cgtvigil.web._accounts import accounts_router
from cgtvigil.web._render import TEMPLATES
from cgtvigil.web._screen_cache import SORT_KEYS, ScreenCache
from cgtvigil.web._security import DbSession, csrf_token, current_user, require_csrf, roles

if TYPE_CHECKING:
    from cgtvigil.forecasting import ToxicityForecaster

__all__ = ["error_page", "web_router"]

SEVERITY_RANK = {"critical": 0, "high": 1, "warning": 2, "info": 3}
CARE_TEAM = ("site_investigator", "safety_scientist", "administrator")
SCREEN_READERS = ("safety_scientist", "regulator_reviewer", "administrator")
SMALL_CELL = 5  # registry aggregates: counts below this are suppressed
RECENT_DAYS = 30  # the board lists every patient with an open alert, and the others up to this day
PAGE_ROWS = 100
SCATTER_ROWS = 1000  # the EB05-versus-n plot shows the first rows of the filtered, sorted screen
SCATTER_COLUMNS = ("drug", "event_type", "event", "n", "eb05", "sdr_fda_eb05")


def _now() -> datetime:
    return datetime.now(UTC)


def _page(request: Request, name: str, user: UserRow | None, **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, {"user": user, "csrf": csrf_token(request), **context})


def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    """An HTML error page for the dashboard routes (the JSON API keeps JSON errors)."""
    response = TEMPLATES.TemplateResponse(
        request, "error.html", {"user": None, "csrf": "", "title": title, "status": title, "detail": detail}
    )
    response.status_code = status
    return response


def _statistic_by_quarter(con: duckdb.DuckDBPyConnection, drug: str, event: str) -> list[dict[str, Any]]:
    """IC025 and the ROR lower bound of one pair on the data available at the end of each
    quarter (cumulative, de-duplicated cases, suspect roles, crude expected counts)."""
    from cgtvigil.signals import ContingencyTables, information_component, ror

    counts = con.execute(
        """
        WITH l AS (
            SELECT DISTINCT r.primaryid, r.quarter, m.drug, upper(trim(x.pt)) AS event
            FROM report r JOIN drug g ON g.primaryid = r.primaryid AND g.quarter = r.quarter
            JOIN drug_map m ON m.drugname IS NOT DISTINCT FROM g.drugname
                            AND m.prod_ai IS NOT DISTINCT FROM g.prod_ai
            JOIN reac x ON x.primaryid = r.primaryid AND x.quarter = r.quarter
            WHERE NOT r.deleted AND g.role_cod IN ('PS', 'SS')),
        q AS (SELECT DISTINCT quarter FROM l)
        SELECT q.quarter,
               (SELECT count(DISTINCT primaryid) FROM l WHERE l.quarter <= q.quarter),
               (SELECT count(DISTINCT primaryid) FROM l WHERE l.quarter <= q.quarter AND l.drug = $1),
               (SELECT count(DISTINCT primaryid) FROM l WHERE l.quarter <= q.quarter AND l.event = $2),
               (SELECT count(DISTINCT primaryid) FROM l
                 WHERE l.quarter <= q.quarter AND l.drug = $1 AND l.event = $2)
        FROM q ORDER BY q.quarter
        """,
        [drug, event.upper()],
    ).fetchall()
    out: list[dict[str, Any]] = []
    for quarter, total, n_drug, n_event, n in counts:
        if not n:
            continue
        t = ContingencyTables.from_counts([n], [n_drug - n], [n_event - n], [total - n_drug - n_event + n])
        out.append(
            {
                "quarter": quarter,
                "statistic": "IC025",
                "value": float(information_component([n], t.expected).lower[0]),
                "n": n,
            }
        )
        out.append({"quarter": quarter, "statistic": "ROR lower 95%", "value": float(ror(t).lower[0]), "n": n})
    return out


def _spec(obj: dict[str, Any]) -> str:
    return json.dumps(obj).replace("'", "&#39;")


def _downsample(points: list[tuple[str, datetime, float]], limit: int = 1500) -> list[dict[str, Any]]:
    """Chart points; above ``limit`` a series is reduced to its hourly maximum (fever shows)."""
    if len(points) <= limit:
        return [{"kind": k, "time": t.isoformat(), "value": v} for k, t, v in points]
    hourly: dict[tuple[str, datetime], float] = {}
    for k, t, v in points:
        key = (k, t.replace(minute=0, second=0, microsecond=0))
        hourly[key] = max(v, hourly.get(key, v))
    return [
        {"kind": k, "time": t.isoformat(), "value": v} for (k, t), v in sorted(hourly.items(), key=lambda x: x[0][1])
    ]


# observation kind -> daily-table column (daily maximum), for the forecaster
_DAILY = {
    "temperature": "max_temp_c",
    "crp": "crp_mg_l",
    "ferritin": "ferritin_ng_ml",
    "il6": "il6_pg_ml",
    "pct": "pct_ng_ml",
    "wbc": "wbc_1e9_l",
    "crs_grade": "crs_grade",
    "icans_grade": "icans_grade",
}


@functools.lru_cache(maxsize=2)
def _load_forecaster(path: Path, mtime: float) -> "ToxicityForecaster":
    """The saved forecaster, read once per file version (``mtime`` keys the cache)."""
    import joblib

    saved: dict[str, Any] = joblib.load(path)
    return saved["forecaster"]  # type: ignore[no-any-return]


def _forecast(
    model_path: Path | None, patient_id: str, infusion: date | None, obs: list[tuple[str, datetime, float]]
) -> dict[str, Any] | None:
    """The forecaster's probability for the patient's latest day, from their observations
    rolled up into the daily table (daily maxima; CRP converted to mg/L)."""
    if model_path is None or infusion is None or not model_path.exists():
        return None
    import numpy as np

    from cgtvigil.forecasting import DailyTable

    forecaster = _load_forecaster(model_path, model_path.stat().st_mtime)
    days: dict[int, dict[str, float]] = {}
    for kind, t, v in obs:
        col = _DAILY.get(kind)
        if col is None:
            continue
        value = v * 10 if kind == "crp" else v
        day = (t.date() - infusion).days
        slot = days.setdefault(day, {})
        slot[col] = max(value, slot.get(col, value))
    if not days:
        return None
    order = sorted(d for d in days if d >= 0)
    if not order:
        return None
    columns: dict[str, Any] = {"patient_id": [patient_id] * len(order), "day": order}
    for col in _DAILY.values():
        columns[col] = [days[d].get(col, np.nan if col not in ("crs_grade", "icans_grade") else 0.0) for d in order]
    prob = float(forecaster.predict_proba(DailyTable.from_columns(columns))[-1])
    return {
        "probability": prob,
        "target": forecaster.target.upper(),
        "min_grade": forecaster.min_grade,
        "horizon": forecaster.horizon,
        "day": order[-1],
        "trained_on": forecaster.n_patients_,
    }


def web_router(settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    products = load_products()
    screens = ScreenCache(settings.screen_result)
    product_names = {p.id: p.brand for p in products.products}
    brand_to_id = {p.brand: p.id for p in products.products}

    notifier = settings.notifier()
    router.routes.extend(accounts_router(settings).routes)  # log-in, log-out, passwords, user administration

    @router.get("/")
    def home(request: Request, user: Annotated[UserRow | None, Depends(current_user)]) -> Response:
        if user is None:
            return RedirectResponse("/login", status_code=303)
        if user.role == "patient":
            return RedirectResponse("/epro", status_code=303)
        return _page(request, "home.html", user, title="Home")

    @router.get("/signals")
    def signals(
        request: Request,
        user: Annotated[UserRow, Depends(roles(*SCREEN_READERS))],
        product: str = "",
        level: str = "",
        rule: str = "",
        sort: str = "eb05",
        page: int = 1,
    ) -> HTMLResponse:
        path = settings.screen_result
        table = screens.view(sort if sort in SORT_KEYS else "eb05")
        if table is None:
            return _page(request, "signals.html", user, title="Signals", missing=True, result_path=path)
        meta = screens.meta
        rule_names = screens.rule_names
        mask = None
        for cond in (
            pc.equal(table.column("drug"), product) if product else None,
            pc.equal(table.column("event_type"), level) if level in ("pt", "topic") else None,
            pc.fill_null(table.column(f"sdr_{rule}"), False) if rule in rule_names else None,
        ):
            if cond is not None:
                mask = cond if mask is None else pc.and_(mask, cond)
        if mask is not None:
            table = table.filter(mask)
        page = max(1, page)
        total = table.num_rows
        rows = table.slice(PAGE_ROWS * (page - 1), PAGE_ROWS).to_pylist()
        for r in rows:
            r["product_id"] = brand_to_id.get(r["drug"])
            r["rules"] = screens.rules_met(r)
            r["event_label"] = screens.event_label(r["event_type"], r["event"])
        scatter = {
            "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
            "width": "container",
            "height": 260,
            "data": {
                "values": [
                    {
                        "n": r["n"],
                        "eb05": r["eb05"],
                        "pair": f"{r['drug']} – {screens.event_label(r['event_type'], r['event'])}",
                        "sdr": bool(r.get("sdr_fda_eb05")),
                    }
                    for r in table.slice(0, SCATTER_ROWS)
                    .select([c for c in SCATTER_COLUMNS if c in table.column_names])
                    .to_pylist()
                    if r.get("eb05")
                ]
            },
            "mark": {"type": "point", "filled": True, "opacity": 0.7},
            "encoding": {
                "x": {"field": "n", "type": "quantitative", "scale": {"type": "log"}, "title": "cases (n)"},
                "y": {"field": "eb05", "type": "quantitative", "scale": {"type": "log"}, "title": "EB05"},
                "color": {"field": "sdr", "type": "nominal", "title": "EB05 ≥ 2"},
                "tooltip": [{"field": "pair"}, {"field": "n"}, {"field": "eb05", "format": ".2f"}],
            },
        }
        all_products = screens.products
        meta_line = (
            f"Spec {meta.get('spec_hash', '')[:12]}, created {meta.get('created_at', '')}, "
            f"rules {meta.get('threshold_rules', {}).get('version', '')}."
        )
        return _page(
            request,
            "signals.html",
            user,
            title="Signals",
            rows=rows,
            products=all_products,
            rules=rule_names,
            filters={"product": product, "level": level, "rule": rule, "sort": sort},
            filter_query=urlencode({"product": product, "level": level, "rule": rule, "sort": sort}),
            page=page,
            total=total,
            pages=(total + PAGE_ROWS - 1) // PAGE_ROWS,
            scatter_spec=_spec(scatter),
            scatter_rows=min(total, SCATTER_ROWS),
            meta_line=meta_line,
            result_path=path,
        )

    @router.get("/signals/cases")
    def cases(
        request: Request, user: Annotated[UserRow, Depends(roles(*SCREEN_READERS))], drug: str, event: str
    ) -> HTMLResponse:
        if not settings.db.exists():
            raise HTTPException(status_code=404, detail="no FAERS store")
        con = duckdb.connect(str(settings.db), read_only=True)
        try:
            found = con.execute(
                """
                SELECT r.caseid, r.caseversion, r.quarter, r.fda_dt, r.age_band, r.sex, r.reporter_country,
                       (SELECT string_agg(DISTINCT m2.drug, '; ') FROM drug g2 JOIN drug_map m2
                          ON m2.drugname IS NOT DISTINCT FROM g2.drugname AND m2.prod_ai IS NOT DISTINCT FROM g2.prod_ai
                         WHERE g2.primaryid = r.primaryid AND g2.quarter = r.quarter
                           AND g2.role_cod IN ('PS', 'SS')) AS drugs,
                       (SELECT string_agg(DISTINCT x2.pt, '; ') FROM reac x2
                         WHERE x2.primaryid = r.primaryid AND x2.quarter = r.quarter) AS pts
                FROM report r
                WHERE NOT r.deleted AND (r.primaryid, r.quarter) IN (
                    SELECT g.primaryid, g.quarter FROM drug g JOIN drug_map m
                      ON m.drugname IS NOT DISTINCT FROM g.drugname AND m.prod_ai IS NOT DISTINCT FROM g.prod_ai
                     WHERE m.drug = ? AND g.role_cod IN ('PS', 'SS'))
                  AND (r.primaryid, r.quarter) IN (SELECT primaryid, quarter FROM reac WHERE upper(trim(pt)) = ?)
                ORDER BY r.quarter, r.caseid LIMIT 500
                """,
                [drug, event.upper()],
            ).fetchall()
            by_quarter = _statistic_by_quarter(con, drug, event)
        finally:
            con.close()
        cols = ("caseid", "caseversion", "quarter", "fda_dt", "age_band", "sex", "reporter_country", "drugs", "pts")
        rows = [dict(zip(cols, r, strict=True)) for r in found]
        trend = {
            "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
            "width": "container",
            "height": 180,
            "data": {"values": by_quarter},
            "mark": {"type": "line", "point": True},
            "encoding": {
                "x": {"field": "quarter", "type": "ordinal", "title": "data up to quarter"},
                "y": {"field": "value", "type": "quantitative", "title": "lower bound"},
                "color": {"field": "statistic", "type": "nominal"},
                "tooltip": [{"field": "statistic"}, {"field": "value", "format": ".2f"}, {"field": "n"}],
            },
        }
        return _page(
            request,
            "cases.html",
            user,
            title=f"{drug} – {event}",
            drug=drug,
            event=event,
            cases=rows,
            trend_spec=_spec(trend),
        )

    @router.get("/products/{product_id}")
    def product_profile(
        request: Request, product_id: str, user: Annotated[UserRow, Depends(roles(*SCREEN_READERS))]
    ) -> HTMLResponse:
        product = products.by_id().get(product_id.lower())
        table = screens.view("eb05")
        if product is None or table is None:
            raise HTTPException(status_code=404, detail="no such product in the screen")
        peers = [p.brand for p in products.products if p.product_class == product.product_class and p.id != product.id]
        present = set(screens.products)
        peers = [b for b in peers if b in present]
        all_rows = table.filter(pc.is_in(table.column("drug"), value_set=pa.array([product.brand, *peers]))).to_pylist()
        class_eb05: dict[tuple[str, str], list[float]] = {}
        for r in all_rows:
            if r["drug"] in peers and r.get("eb05") is not None:
                class_eb05.setdefault((r["event_type"], r["event"]), []).append(r["eb05"])
        rows = []
        for r in all_rows:
            if r["drug"] != product.brand:
                continue
            peer = class_eb05.get((r["event_type"], r["event"]))
            rows.append(
                {
                    **r,
                    "label": screens.event_label(r["event_type"], r["event"]),
                    "class_eb05": sum(peer) / len(peer) if peer else None,
                    "rules": screens.rules_met(r),
                }
            )
        rows.sort(key=lambda r: (r["event_type"] != "topic", -(r.get("eb05") or 0)))
        bars = [
            {"topic": r["label"], "who": who, "eb05": v}
            for r in rows
            if r["event_type"] == "topic"
            for who, v in ((product.brand, r["eb05"]), (f"{product.product_class} mean", r["class_eb05"]))
            if v is not None
        ]
        chart = {
            "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
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
        return _page(
            request,
            "product.html",
            user,
            title=product.brand,
            product=product,
            peers=peers,
            rows=rows[:200],
            chart=_spec(chart),
        )

    @router.get("/registry")
    def registry(
        request: Request,
        session: DbSession,
        user: Annotated[UserRow, Depends(roles("regulator_reviewer", "safety_scientist", "administrator"))],
    ) -> HTMLResponse:
        """Aggregates only, through the one small-cell suppression path."""
        treated = {pid: prod for pid, prod in session.execute(select(TreatmentRow.patient_id, TreatmentRow.product_id))}
        alerted = set(session.scalars(select(AlertRow.patient_id).distinct()))
        severe: dict[str, set[str]] = {"crs_grade": set(), "icans_grade": set()}
        for kind, pid in session.execute(
            select(ObservationRow.kind, ObservationRow.patient_id)
            .where(
                ObservationRow.kind.in_(("crs_grade", "icans_grade")),
                ObservationRow.value >= 3,
                ObservationRow.superseded.is_(False),
            )
            .distinct()
        ):
            severe[kind].add(pid)
        allowed = set(user.sponsor_products or []) if user.role == "safety_scientist" else None
        counts: dict[str, dict[str, Any]] = {}
        for pid, prod in treated.items():
            if allowed is not None and prod not in allowed:
                continue
            c = counts.setdefault(
                prod,
                {
                    "product": product_names.get(prod, prod),
                    "patients": 0,
                    "alerted": 0,
                    "severe_crs": 0,
                    "severe_icans": 0,
                },
            )
            c["patients"] += 1
            c["alerted"] += pid in alerted
            c["severe_crs"] += pid in severe["crs_grade"]
            c["severe_icans"] += pid in severe["icans_grade"]
        rows = suppress_small_cells(
            sorted(counts.values(), key=lambda r: r["product"]),
            ["patients", "alerted", "severe_crs", "severe_icans"],
            threshold=SMALL_CELL,
        )
        append_audit(session, actor=user.username, action="registry.aggregate", target="registry", at=_now())
        session.commit()
        return _page(request, "registry.html", user, title="Registry", rows=rows, threshold=SMALL_CELL)

    @router.get("/monitoring")
    def board(
        request: Request, session: DbSession, user: Annotated[UserRow, Depends(roles(*CARE_TEAM))], page: int = 1
    ) -> HTMLResponse:
        """Every patient with an open alert, whatever the day after infusion (late toxicities,
        long-term follow-up), most severe first, then the patients in the recent-infusion window
        (day 0-30): one aggregate query scoped to what the user may see, 100 patients a page.
        An administrator also sees alerts of patient ids missing from the registry."""
        today = _now().date()
        latest = (
            select(TreatmentRow.patient_id, func.max(TreatmentRow.infusion_date).label("day0"))
            .group_by(TreatmentRow.patient_id)
            .subquery()
        )
        rank = case(*((AlertRow.severity == sev, r) for sev, r in SEVERITY_RANK.items()), else_=9)
        alerts = (
            select(AlertRow.patient_id, func.count().label("open"), func.min(rank).label("worst"))
            .where(AlertRow.status.in_(ACTIVE))
            .group_by(AlertRow.patient_id)
            .subquery()
        )
        query = (
            select(
                PatientRow.id,
                PatientRow.site,
                TreatmentRow.product_id,
                latest.c.day0,
                func.coalesce(alerts.c.open, 0),
                alerts.c.worst,
            )
            .outerjoin(latest, latest.c.patient_id == PatientRow.id)
            .outerjoin(
                TreatmentRow, (TreatmentRow.patient_id == PatientRow.id) & (TreatmentRow.infusion_date == latest.c.day0)
            )
            .outerjoin(alerts, alerts.c.patient_id == PatientRow.id)
            .where(
                alerts.c.open.is_not(None)
                | ((latest.c.day0 >= today - timedelta(days=RECENT_DAYS)) & (latest.c.day0 <= today))
            )
        )
        if user.role == "site_investigator":
            query = query.where(PatientRow.site == (user.site or ""))
        elif user.role == "safety_scientist":
            query = query.where(TreatmentRow.product_id.in_(user.sponsor_products or []))
        query = query.order_by(func.coalesce(alerts.c.worst, 9), func.coalesce(alerts.c.open, 0).desc(), PatientRow.id)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        page = max(1, page)
        found = session.execute(query.limit(100).offset(100 * (page - 1))).all()
        by_rank = {r: sev for sev, r in SEVERITY_RANK.items()}
        rows = [
            {
                "id": pid,
                "site": site,
                "product": product_names.get(prod, prod) if prod else "",
                "day": (today - day0).days if day0 is not None else None,
                "open": n,
                "worst": by_rank.get(worst) if worst is not None else None,
            }
            for pid, site, prod, day0, n, worst in found
        ]
        notified = patients_notified(session, [r["id"] for r in rows if r["open"]])
        for r in rows:
            r["notified"] = notified.get(r["id"], "nobody") if r["open"] else ""
        unregistered = []
        if user.role == "administrator":  # alerts stored before accounts were checked against the registry
            unregistered = [
                {"id": pid, "open": n, "worst": by_rank.get(worst)}
                for pid, n, worst in session.execute(
                    select(alerts.c.patient_id, alerts.c.open, alerts.c.worst)
                    .outerjoin(PatientRow, PatientRow.id == alerts.c.patient_id)
                    .where(PatientRow.id.is_(None))
                    .order_by(alerts.c.worst, alerts.c.patient_id)
                )
            ]
        append_audit(
            session,
            actor=user.username,
            action="patient.list",
            target="monitoring-board",
            at=_now(),
            detail={"patients": len(rows), "page": page},
        )
        session.commit()
        return _page(
            request,
            "monitoring.html",
            user,
            title="Monitoring",
            patients=rows,
            unregistered=unregistered,
            recent_days=RECENT_DAYS,
            page=page,
            total=total,
            pages=(total + 99) // 100,
        )

    def _patient_or_404(session: Any, user: UserRow, patient_id: str) -> tuple[PatientRow, TreatmentRow | None]:
        patient = session.get(PatientRow, patient_id)
        if (
            patient is None
            and user.role == "administrator"
            and session.scalar(select(AlertRow.id).where(AlertRow.patient_id == patient_id).limit(1)) is not None
        ):  # alerts of an id missing from the registry (stored before accounts were checked) stay reachable
            return PatientRow(id=patient_id, site=""), None
        treatments = (
            list(session.scalars(select(TreatmentRow).where(TreatmentRow.patient_id == patient_id))) if patient else []
        )
        if patient is None or not can_view_patient(user, patient, treatments):
            raise HTTPException(status_code=404, detail="no such patient")  # existence must not leak
        return patient, (max(treatments, key=lambda t: t.infusion_date) if treatments else None)

    @router.get("/patients/{patient_id}")
    def patient_page(
        request: Request,
        session: DbSession,
        patient_id: str,
        user: Annotated[UserRow, Depends(roles(*CARE_TEAM, "patient"))],
    ) -> HTMLResponse:
        patient, treatment = _patient_or_404(session, user, patient_id)
        since = (_now() - timedelta(days=30)).replace(tzinfo=None)
        obs = session.execute(
            select(ObservationRow.kind, ObservationRow.time, ObservationRow.value)
            .where(
                ObservationRow.patient_id == patient_id,
                ObservationRow.superseded.is_(False),
                ObservationRow.time >= since,
            )
            .order_by(ObservationRow.time)
        ).all()
        charts = []
        for kinds, title in (
            (("temperature",), "Temperature (°C)"),
            (("crs_grade", "icans_grade"), "CRS and ICANS grade"),
            (("anc", "plt"), "ANC and platelets (10^9/L)"),
            (("crp",), "CRP (mg/dL)"),
        ):
            values = _downsample([(k, t, v) for k, t, v in obs if k in kinds])
            if values:
                charts.append(
                    {
                        "title": title,
                        "spec": _spec(
                            {
                                "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
                                "width": "container",
                                "height": 180,
                                "data": {"values": values},
                                "mark": {"type": "line", "point": len(values) < 60},
                                "encoding": {
                                    "x": {"field": "time", "type": "temporal"},
                                    "y": {
                                        "field": "value",
                                        "type": "quantitative",
                                        "title": title,
                                        "scale": {"zero": False},
                                    },
                                    "color": {"field": "kind", "type": "nominal"},
                                },
                            }
                        ),
                    }
                )
        alerts = session.scalars(
            select(AlertRow)
            .where(AlertRow.patient_id == patient_id, AlertRow.status.in_(ACTIVE))
            .order_by(AlertRow.first_seen)
        ).all()
        notices = notification_states(session, [a.id for a in alerts])
        append_audit(session, actor=user.username, action="patient.read", target=f"patient:{patient_id}", at=_now())
        session.commit()
        day = (_now().date() - treatment.infusion_date).days if treatment else None
        forecast = _forecast(
            settings.forecast_model,
            patient_id,
            treatment.infusion_date if treatment else None,
            [(k, t, v) for k, t, v in obs],
        )
        return _page(
            request,
            "patient.html",
            user,
            title=f"Patient {patient_id}",
            patient=patient,
            day=day,
            product=product_names.get(treatment.product_id, "") if treatment else "",
            alerts=alerts,
            notices=notices,
            registered=patient in session,
            charts=charts,
            forecast=forecast,
            can_act=user.role in ("site_investigator", "administrator"),
        )

    def _alert_action(request: Request, session: Any, user: UserRow, alert_id: int, action: str) -> Response:
        alert = session.get(AlertRow, alert_id)
        if alert is None:
            raise HTTPException(status_code=404, detail="no such alert")
        _patient_or_404(session, user, alert.patient_id)
        try:
            (acknowledge if action == "acknowledge" else resolve)(session, alert_id, user.username, _now())
        except CgtVigilError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        append_audit(session, actor=user.username, action=f"alert.{action}", target=f"alert:{alert_id}", at=_now())
        session.commit()
        return RedirectResponse(f"/patients/{alert.patient_id}", status_code=303)

    @router.post("/alerts/{alert_id}/acknowledge", dependencies=[Depends(require_csrf)])
    def ack(
        request: Request,
        session: DbSession,
        alert_id: int,
        user: Annotated[UserRow, Depends(roles("site_investigator", "administrator"))],
    ) -> Response:
        return _alert_action(request, session, user, alert_id, "acknowledge")

    @router.post("/alerts/{alert_id}/resolve", dependencies=[Depends(require_csrf)])
    def res(
        request: Request,
        session: DbSession,
        alert_id: int,
        user: Annotated[UserRow, Depends(roles("site_investigator", "administrator"))],
    ) -> Response:
        return _alert_action(request, session, user, alert_id, "resolve")

    @router.get("/epro")
    def epro_form(request: Request, user: Annotated[UserRow, Depends(roles("patient"))]) -> HTMLResponse:
        return _page(request, "epro.html", user, title="My symptoms", items=list(CGT_SYMPTOM_ITEMS.items()))

    @router.post("/epro", dependencies=[Depends(require_csrf)])
    async def epro_submit(
        request: Request, session: DbSession, user: Annotated[UserRow, Depends(roles("patient"))]
    ) -> HTMLResponse:
        form = await request.form()
        now = _now()
        qr = {
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "authored": now.isoformat(),
            "subject": {"reference": f"Patient/{user.patient_id}"},
            "item": [
                {"linkId": k, "answer": [{"valueInteger": 1 if form.get(k) == "1" else 0}]} for k in CGT_SYMPTOM_ITEMS
            ],
        }
        summary = store_observations(session, read_questionnaire_response(qr), now)
        alerts = (
            evaluate_patient(
                session,
                str(user.patient_id),
                MonitoringRules(),
                since=now - timedelta(hours=1),
                now=now,
                products=products,
            )
            if summary.loaded
            else []
        )
        append_audit(
            session,
            actor=user.username,
            action="epro.submit",
            target=f"patient:{user.patient_id}",
            at=now,
            detail={
                "present": [k for k in CGT_SYMPTOM_ITEMS if form.get(k) == "1"],
                "stored": summary.loaded,
                "refused": summary.reasons,
                "alerts": [a.id for a in alerts],
            },
        )
        session.commit()
        ids = [a.id for a in alerts]
        if ids:  # tell a person now, not at the scheduler's next round; "alerted" only if someone was told
            await run_in_threadpool(deliver_due, request.app.state.sessions, notifier, now, alert_ids=ids)
        states = [n for ns in notification_states(session, ids).values() for n in ns]
        patient = session.get(PatientRow, str(user.patient_id)) if summary.loaded else None
        return _page(
            request,
            "epro.html",
            user,
            title="My symptoms",
            items=list(CGT_SYMPTOM_ITEMS.items()),
            done=True,
            recorded=bool(summary.loaded),
            raised=bool(alerts),
            alerted=any(n.status == "sent" for n in states),
            retrying=any(n.status == "pending" for n in states),
            site=patient.site if patient else "",
        )

    return router
