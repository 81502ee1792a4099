"""Evaluating a patient's recent observations against the rule set and raising alerts.

Re-evaluation is idempotent: a trigger that is already alerted updates the active alert
instead of opening another, so late observations can simply re-run the evaluation of the
window they fall in.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, datetime, timedelta

from sqlalchemy import Row, Select, bindparam, select, union_all
from sqlalchemy.orm import Session

from cgtvigil.clinical import CTCAE_TERMS, DEFAULT_RANGES, grade_ctcae, grade_icaht
from cgtvigil.model import LabResult, ProductDictionary
from cgtvigil.monitoring._alerts import raise_alert
from cgtvigil.monitoring._rules import MonitoringRules
from cgtvigil.store import AlertRow, ObservationRow, TreatmentRow, utc_naive

__all__ = ["evaluate_patient", "evaluate_patients"]

_LAB_TERMS = {
    analyte: term for term, analyte in CTCAE_TERMS.items() if analyte in ("anc", "plt", "alt", "ast", "bilirubin")
}


# the columns an evaluation reads; a row of them is a Reading (attributes as on ObservationRow)
_READING = (
    ObservationRow.patient_id,
    ObservationRow.kind,
    ObservationRow.value,
    ObservationRow.unit,
    ObservationRow.time,
    ObservationRow.ref_low,
    ObservationRow.ref_high,
)
Reading = Row[str, str, float, str, datetime, float | None, float | None]
AncValue = Row[str, float, str, datetime]


def _sustained(rows: list[Reading], test, minimum: int, window: timedelta) -> Reading | None:  # type: ignore[no-untyped-def]
    """The last reading of the first run of ``minimum`` consecutive readings passing ``test``
    within ``window`` (a persistence filter against single-reading artefacts)."""
    run: list[Reading] = []
    for r in rows:
        if test(r.value):
            run.append(r)
            while run and r.time - run[0].time > window:
                run.pop(0)
            if len(run) >= minimum:
                return r
        else:
            run = []
    return None


# patients per statement of a batch evaluation (SQLite allows at most 500 terms in a compound
# SELECT; each window is one term with two parameters)
_BATCH = 100


@functools.cache
def _windows(n: int) -> Select[str, str, float, str, datetime, float | None, float | None]:
    """The windows of ``n`` patients (parameters p0, s0, p1, s1, ...: patient and start) in
    (patient, time) order, as a UNION ALL of one range of the index (patient_id, time) per
    patient: the cost is that of the windows, whatever the length of the patients' histories.
    Built once per size, so that a batch costs binding its parameters, not building the statement."""
    ranges = [
        select(*_READING).where(
            ObservationRow.patient_id == bindparam(f"p{j}"),
            ObservationRow.time >= bindparam(f"s{j}"),
            ObservationRow.superseded.is_(False),
        )
        for j in range(n)
    ]
    return (union_all(*ranges) if n > 1 else ranges[0]).order_by("patient_id", "time")  # type: ignore[return-value]


def evaluate_patient(
    session: Session,
    patient: str,
    rules: MonitoringRules,
    *,
    since: datetime,
    now: datetime,
    products: ProductDictionary | None = None,
) -> list[AlertRow]:
    """Evaluate observations of ``patient`` from ``since``; returns the alerts raised or updated.
    With the patient's registered treatment (and ``products``), product-specific rules apply
    too: the AAV liver rule and the running early ICAHT from day 0. (``now`` is not read: the
    window is ``since`` onwards.)"""
    return evaluate_patients(session, {patient: since}, rules, products=products)[patient]


def evaluate_patients(
    session: Session,
    since: Mapping[str, datetime],
    rules: MonitoringRules,
    *,
    products: ProductDictionary | None = None,
) -> dict[str, list[AlertRow]]:
    """Evaluate each patient of ``since`` from their own time, as :func:`evaluate_patient`
    does, in patient order; returns each patient's alerts raised or updated. The reads are
    shared: one statement for the windows of up to 100 patients, one for their treatments and
    one for the ANC values of the CAR-T and TCR-T patients among them, so a gateway's batch of
    many patients costs a few round trips, not three per patient."""
    patients = sorted(since)
    windows: dict[str, list[Reading]] = {p: [] for p in patients}
    treatments: dict[str, TreatmentRow] = {}
    for i in range(0, len(patients), _BATCH):
        chunk = patients[i : i + _BATCH]
        # plain rows, not entities: a batch of many patients does not fill the session
        bound = {f"p{j}": p for j, p in enumerate(chunk)} | {f"s{j}": utc_naive(since[p]) for j, p in enumerate(chunk)}
        for row in session.execute(_windows(len(chunk)), bound).all():
            windows[row.patient_id].append(row)
        for t in session.scalars(
            select(TreatmentRow)
            .where(TreatmentRow.patient_id.in_(chunk))
            .order_by(TreatmentRow.patient_id, TreatmentRow.infusion_date.desc())
        ):
            treatments.setdefault(t.patient_id, t)  # the most recent one
    by_id = products.by_id() if products is not None else {}
    modality = {p: by_id[t.product_id].modality.value for p, t in treatments.items() if t.product_id in by_id}
    day0 = {p: treatments[p].infusion_date for p in patients if modality.get(p) in ("CAR-T", "TCR-T")}
    anc = _anc_since_day0(session, day0)
    return {
        p: _evaluate(session, p, windows[p], rules, treatments.get(p), modality.get(p), anc.get(p)) for p in patients
    }


def _evaluate(
    session: Session,
    patient: str,
    rows: list[Reading],
    rules: MonitoringRules,
    treatment: TreatmentRow | None,
    modality: str | None,
    anc: list[AncValue] | None,
) -> list[AlertRow]:
    """One patient's rules over their window (``rows``, in time order), treatment and ANC."""
    by_kind: dict[str, list[Reading]] = {}
    for r in rows:
        by_kind.setdefault(r.kind, []).append(r)
    alerts: list[AlertRow] = []

    def fire(rule: str, severity: str, message: str, at: datetime) -> None:
        alerts.append(raise_alert(session, patient, rule, severity, message, at, rules)[0])

    vitals = (
        (
            "temperature",
            "sensor_fever",
            "high",
            lambda v: v >= rules.fever_c,
            rules.fever_min_readings,
            rules.fever_window_minutes,
            f"temperature >= {rules.fever_c} °C",
        ),
        (
            "spo2",
            "hypoxia",
            "high",
            lambda v: v < rules.spo2_below,
            rules.vital_min_readings,
            rules.vital_window_minutes,
            f"SpO2 < {rules.spo2_below} %",
        ),
        (
            "heart_rate",
            "tachycardia",
            "warning",
            lambda v: v > rules.heart_rate_above,
            rules.vital_min_readings,
            rules.vital_window_minutes,
            f"heart rate > {rules.heart_rate_above}/min",
        ),
        (
            "sbp",
            "hypotension",
            "high",
            lambda v: v < rules.sbp_below,
            rules.vital_min_readings,
            rules.vital_window_minutes,
            f"systolic BP < {rules.sbp_below} mmHg",
        ),
    )
    # any agent that may mask fever (masking_agent:<agent>; masking_agent: stored before the agent was kept)
    masking = [r.time for k, rows in by_kind.items() if k.split(":")[0] == "masking_agent" for r in rows]
    window = timedelta(hours=rules.masking_hours)
    for kind, rule, severity, test, minimum, minutes, label in vitals:
        hit = _sustained(by_kind.get(kind, []), test, minimum, timedelta(minutes=minutes))
        if hit is not None:
            masked = kind == "temperature" and any(timedelta(0) <= hit.time - m <= window for m in masking)
            note = " despite an antipyretic/anti-cytokine dose within the masking window" if masked else ""
            message = f"{label}: {hit.value:g} at {hit.time.isoformat()} ({minimum} readings in {minutes} min){note}"
            fire(rule, severity, message, hit.time)
    if masking and "temperature" in by_kind:
        last_mask = max(masking)
        recent = [r for r in by_kind["temperature"] if timedelta(0) <= r.time - last_mask <= window]
        if recent and all(r.value < rules.fever_c for r in recent):
            fire(
                "fever_masked",
                "info",
                f"no sensor fever in the {rules.masking_hours:g} h after a masking agent at {last_mask.isoformat()}: "
                "absence of fever does not mean CRS has resolved (ASTCT masked-fever rule)",
                recent[-1].time,
            )
    for analyte, term in _LAB_TERMS.items():
        worst = None
        for r in by_kind.get(analyte, []):
            g = grade_ctcae(
                term,
                LabResult(analyte=analyte, value=r.value, unit=r.unit, ref_low=r.ref_low, ref_high=r.ref_high),
                version=rules.ctcae_version,
            )
            if g.grade is not None and g.grade >= rules.ctcae_min_grade and (worst is None or g.grade > worst[0]):
                worst = (g.grade, r, g)
        if worst is not None:
            grade, r, g = worst
            fire(
                f"ctcae_{term}",
                "critical" if grade >= 4 else "high",
                f"{term.replace('_', ' ')} CTCAE grade {grade} ({g.driver}, {g.version})",
                r.time,
            )
    for kind, obs in by_kind.items():
        if kind.startswith("symptom:"):
            item = kind.split(":", 1)[1]
            present = [r for r in obs if r.value >= 1]
            if present:
                fire(
                    f"epro_{item}",
                    rules.symptom_severity.get(item, "warning"),
                    f"patient reported {item.removeprefix('cgt_')}",
                    present[-1].time,
                )
        elif kind.startswith("pro_ctcae:") and kind.endswith("_SCL"):
            high = [r for r in obs if r.value >= rules.pro_ctcae_min_score]
            if high:
                fire(
                    f"epro_{kind.split(':', 1)[1]}",
                    "warning",
                    f"PRO-CTCAE {kind.split(':', 1)[1]} = {high[-1].value:g}",
                    high[-1].time,
                )
    _kinetics(by_kind, rules, fire)
    for kind, rule, label in (("crs_grade", "crs_grade_change", "CRS"), ("icans_grade", "icans_grade_change", "ICANS")):
        highest = 0.0
        for r in by_kind.get(kind, []):  # a new or worsening grade alerts
            if r.value > highest:
                fire(
                    rule,
                    "critical" if r.value >= 3 else "high",
                    f"{label} grade {r.value:g} (previously {highest:g}) at {r.time.isoformat()}",
                    r.time,
                )
            highest = max(highest, r.value)
    if modality == "AAV-in-vivo" and treatment is not None:
        for analyte in ("alt", "ast", "bilirubin"):
            _aav_liver(analyte, by_kind.get(analyte, []), treatment.baseline_labs.get(analyte), rules, fire)
    if anc and treatment is not None:
        _running_icaht(anc, treatment.infusion_date, rules, fire)
    return alerts


def _kinetics(by_kind: dict[str, list[Reading]], rules: MonitoringRules, fire) -> None:  # type: ignore[no-untyped-def]
    """CRP or ferritin rising ``kinetics_fold`` within ``kinetics_hours`` (project default)."""
    window = timedelta(hours=rules.kinetics_hours)
    for kind in ("crp", "ferritin"):
        rows = by_kind.get(kind, [])
        for i, later in enumerate(rows):
            earlier = [r for r in rows[:i] if later.time - r.time <= window and r.value > 0]
            if earlier and later.value >= rules.kinetics_fold * min(r.value for r in earlier):
                fold = later.value / min(r.value for r in earlier)
                fire(
                    f"{kind}_rising",
                    "warning",
                    f"{kind.upper()} rose {fold:.1f}-fold within {rules.kinetics_hours:g} h to {later.value:g}",
                    later.time,
                )
                break


def _aav_liver(analyte: str, rows: list[Reading], baseline: object, rules: MonitoringRules, fire) -> None:  # type: ignore[no-untyped-def]
    """AAV liver rule (project default): ALT/AST above 3 x ULN or 2 x baseline; bilirubin above
    2 x ULN or 2 x baseline."""
    base = float(baseline) if isinstance(baseline, int | float) else None
    uln_fold = rules.aav_alt_uln_fold if analyte != "bilirubin" else rules.aav_bilirubin_uln_fold
    for r in rows:
        uln = r.ref_high if r.ref_high is not None else DEFAULT_RANGES[analyte][1]
        reasons = []
        if r.value > uln_fold * uln:
            reasons.append(f"> {uln_fold:g} x ULN ({uln:g})")
        if base is not None and r.value > rules.aav_alt_baseline_fold * base:
            reasons.append(f"> {rules.aav_alt_baseline_fold:g} x baseline ({base:g})")
        if reasons:
            fire(
                f"aav_liver_{analyte}",
                "high",
                f"{analyte.upper()} {r.value:g} {r.unit} {' and '.join(reasons)} (AAV product)",
                r.time,
            )
            return


def _anc_since_day0(session: Session, day0: Mapping[str, date]) -> dict[str, list[AncValue]]:
    """Each patient's ANC values since their day 0, in time order (an early ICAHT run is
    measured to its end, even past day 30): ranges of the index (patient_id, kind, ...) that
    hold these patients' ANC values only, never the streamed vitals of the window."""
    found: dict[str, list[AncValue]] = {}
    patients = sorted(day0)
    for i in range(0, len(patients), _BATCH):
        chunk = patients[i : i + _BATCH]
        start = {p: datetime.combine(day0[p], datetime.min.time()) for p in chunk}
        rows = session.execute(
            select(ObservationRow.patient_id, ObservationRow.value, ObservationRow.unit, ObservationRow.time)
            .where(
                ObservationRow.patient_id.in_(chunk),
                ObservationRow.kind == "anc",
                ObservationRow.superseded.is_(False),
                ObservationRow.time >= min(start.values()),
            )
            .order_by(ObservationRow.patient_id, ObservationRow.time)
        ).all()
        for r in rows:
            if r.time >= start[r.patient_id]:
                found.setdefault(r.patient_id, []).append(r)
    return found


def _running_icaht(anc: list[AncValue], infusion: date, rules: MonitoringRules, fire) -> None:  # type: ignore[no-untyped-def]
    day0 = datetime.combine(infusion, datetime.min.time())
    series = [LabResult(analyte="anc", value=r.value, unit=r.unit, time=r.time) for r in anc]
    early, _ = grade_icaht(series, day0)
    grade = early.grade if early.grade is not None else int((early.category or "at least grade 0").rsplit(" ", 1)[1])
    if grade >= rules.icaht_min_grade:
        fire(
            "icaht_early",
            "high",
            f"running early ICAHT grade {'>= ' if early.grade is None else ''}{grade}: {early.driver}",
            anc[-1].time,
        )
