"""A patient's page (summary, plan tier, last data per device, charts, alerts with history and
notifications, ePRO answers, forecast) and the alert actions: thin handlers over the
monitoring query services."""

import functools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cgtvigil.config import Settings
from cgtvigil.ingest import CGT_SYMPTOM_ITEMS
from cgtvigil.model import ProductDictionary
from cgtvigil.monitoring import (
    ObservationSeries,
    act_on_alert,
    alert_views,
    epro_reports,
    observation_series,
    patient_summary,
)
from cgtvigil.web._charts import patient_charts
from cgtvigil.web._render import Reader, audit_read, reader, render
from cgtvigil.web._security import DbSession, require_csrf

if TYPE_CHECKING:
    from cgtvigil.forecasting import ToxicityForecaster

__all__ = ["patients_router"]

PATIENT_READERS = ("site_investigator", "safety_scientist", "administrator", "patient")
ACTORS = ("site_investigator", "administrator")
CHART_DAYS = 30

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
    model_path: Path | None, patient_id: str, infusion: date | None, series: list[ObservationSeries]
) -> dict[str, Any] | None:
    """The forecaster's probability for the patient's latest day, from their observations
    rolled up into the daily table (daily maxima; CRP converted to mg/L)."""
    if model_path is None or infusion is None or not model_path.exists():
        return None
    import numpy as np

    from cgtvigil.forecasting import DailyTable

    forecaster = _load_forecaster(model_path, model_path.stat().st_mtime)
    days: dict[int, dict[str, float]] = {}
    for s in series:
        col = _DAILY.get(s.kind)
        if col is None:
            continue
        for time, raw in zip(s.times, s.values, strict=True):
            value = raw * 10 if s.kind == "crp" else raw
            slot = days.setdefault((time.date() - infusion).days, {})
            slot[col] = max(value, slot.get(col, value))
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


def patients_router(settings: Settings, products: ProductDictionary) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/patients/{patient_id}")
    def patient_page(
        request: Request, session: DbSession, patient_id: str, who: Annotated[Reader, Depends(reader(*PATIENT_READERS))]
    ) -> HTMLResponse:
        now = datetime.now(UTC)
        summary = patient_summary(session, who.scope, products, patient_id, now)
        series = observation_series(session, who.scope, patient_id, since=now - timedelta(days=CHART_DAYS))
        alerts = alert_views(session, who.scope, now, patient_id=patient_id, status="all")
        reports = epro_reports(session, who.scope, patient_id, now)
        audit_read(session, who.scope, "patient.read", f"patient:{patient_id}")
        return render(
            request,
            "patient.html",
            who.user,
            title=f"Patient {patient_id}",
            patient=summary,
            open_alerts=[a for a in alerts if a.status != "resolved"],
            closed_alerts=[a for a in alerts if a.status == "resolved"][-20:],
            reports=reports,
            items=CGT_SYMPTOM_ITEMS,
            charts=patient_charts(series),
            forecast=_forecast(settings.forecast_model, patient_id, summary.infusion_date, series),
            can_act=who.scope.acts,
            now=now,
        )

    def _act(
        session: DbSession, who: Reader, alert_id: int, action: Literal["acknowledge", "resolve"], note: str
    ) -> Response:
        now = datetime.now(UTC)
        alert = act_on_alert(session, who.scope, alert_id, action, now, note)
        audit_read(session, who.scope, f"alert.{action}", f"alert:{alert_id}", **({"note": note} if note else {}))
        return RedirectResponse(f"/patients/{alert.patient_id}", status_code=303)

    @router.post("/alerts/{alert_id}/acknowledge", dependencies=[Depends(require_csrf)])
    def ack(
        session: DbSession,
        alert_id: int,
        who: Annotated[Reader, Depends(reader(*ACTORS))],
        note: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        return _act(session, who, alert_id, "acknowledge", note)

    @router.post("/alerts/{alert_id}/resolve", dependencies=[Depends(require_csrf)])
    def res(
        session: DbSession,
        alert_id: int,
        who: Annotated[Reader, Depends(reader(*ACTORS))],
        note: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        return _act(session, who, alert_id, "resolve", note)

    return router
