"""Load a SYNTHETIC long-term follow-up cohort (``cgtvigil.synth.simulate_ltfu``) through the
follow-up services themselves, day by day as it happened: registration, consent, plan, visits
attended or missed with their forms, moves between sites (transfers), withdrawals, re-consent
after majority, late malignancies and deaths. Used by ``make demo`` and the tests."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import cast

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.followup._consent import majority_date, record_consent
from cgtvigil.followup._plans import plan_patient
from cgtvigil.followup._transition import close_task, transfer_patient, transition_sweep
from cgtvigil.followup._visits import YearlyForm, mark_missed, record_visit
from cgtvigil.model import JurisdictionTable, LtfuRuleSet, ProductDictionary
from cgtvigil.monitoring import register_patient
from cgtvigil.store import ConsentUse, LtfuPatientRow, LtfuSiteRow, LtfuTaskRow, LtfuVisitRow, PatientRow, Scope
from cgtvigil.synth import LTFU_SITES, LtfuCohort

__all__ = ["load_ltfu_cohort"]

USES: tuple[ConsentUse, ...] = ("safety_followup", "data_sharing", "biosample")


def _at(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 12, tzinfo=UTC)


def load_ltfu_cohort(
    session: Session,
    cohort: LtfuCohort,
    products: ProductDictionary,
    rules: LtfuRuleSet,
    ages: JurisdictionTable,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Write the cohort (the caller commits and audits); returns counts of what was written."""
    today = cohort.config.today
    scope = Scope(actor="synth:ltfu", all_patients=True, acts=True)
    for site, (country, jurisdiction, zone, care) in LTFU_SITES.items():
        if session.get(LtfuSiteRow, site) is None:
            session.add(LtfuSiteRow(site=site, country=country, jurisdiction=jurisdiction, timezone=zone, care=care))
    counts = {"patients": 0, "visits_done": 0, "transfers": 0, "withdrawals": 0, "malignancies": 0, "deaths": 0}
    for k, p in enumerate(cohort.patients):
        rng = np.random.default_rng(p.seed)
        register_patient(
            session,
            products,
            patient=p.id,
            site=p.site,
            product=p.product,
            infusion_date=p.infusion_date,
            birth_date=p.birth_date,
            birth_date_precision=p.birth_precision,
            sex=p.sex,
            jurisdiction=LTFU_SITES[p.site][1],
        )
        session.add(LtfuPatientRow(patient_id=p.id, race=p.race, ethnicity=p.ethnicity, distance_km=p.distance_km))
        patient = session.get(PatientRow, p.id)
        assert patient is not None
        adult_on, _ = majority_date(patient, ages)
        minor = adult_on is not None and adult_on > p.infusion_date
        signed = p.infusion_date - timedelta(days=7)
        for use in USES:
            record_consent(
                session,
                scope,
                ages,
                p.id,
                use=use,
                kind="permission" if minor else "consent",
                signer="parent" if minor else "patient",
                form_version="SYN-ICF-1",
                signed_on=signed,
                now=_at(signed),
            )
        plan_patient(session, p.id, products, rules, _at(p.infusion_date))
        events: list[tuple[date, str, str]] = [(d, "move", site) for d, site in p.moves]
        events += [(d, "withdraw", use) for d, use in p.withdrawals]
        if minor and adult_on is not None and p.reconsent_delay_days is not None:
            events.append((adult_on + timedelta(days=p.reconsent_delay_days), "reconsent", ""))
        events = sorted(e for e in events if e[0] < today)
        visits = list(
            session.scalars(
                select(LtfuVisitRow).where(LtfuVisitRow.patient_id == p.id).order_by(LtfuVisitRow.due, LtfuVisitRow.id)
            )
        )
        moved = stopped = False
        malignancy_told = death_told = False
        for v in visits:
            if v.due > today or v.state != "scheduled":
                continue
            while events and events[0][0] <= v.due:
                day, kind, value = events.pop(0)
                if kind == "move" and value != patient.site:
                    transfer_patient(
                        session,
                        scope,
                        ages,
                        products,
                        p.id,
                        to_site=value,
                        moved_on=day,
                        now=_at(day),
                        sending_access="read",
                        read_until=day + timedelta(days=365),
                        to_jurisdiction=LTFU_SITES[value][1],
                    )
                    moved = True
                    counts["transfers"] += 1
                elif kind == "withdraw":
                    record_consent(
                        session,
                        scope,
                        ages,
                        p.id,
                        use=cast(ConsentUse, value),
                        kind="consent",
                        signer="patient",
                        form_version="SYN-ICF-1",
                        signed_on=day,
                        now=_at(day),
                        withdrawn=True,
                    )
                    counts["withdrawals"] += 1
                    stopped = stopped or value == "safety_followup"
                elif kind == "reconsent":
                    for use in USES:
                        record_consent(
                            session,
                            scope,
                            ages,
                            p.id,
                            use=use,
                            kind="consent",
                            signer="patient",
                            form_version="SYN-ICF-adult-1",
                            signed_on=day,
                            now=_at(day),
                        )
            if stopped or death_told:
                continue
            if p.died_on is not None and p.died_on <= v.due:
                record_visit(
                    session,
                    scope,
                    products,
                    v.id,
                    done_on=min(v.due, today),
                    contact="record",
                    now=_at(min(v.due, today)),
                    form=YearlyForm(death=True, death_date=p.died_on, death_cause=p.death_cause),
                )
                death_told = True
                counts["deaths"] += 1
                continue
            if p.lost_on is not None and p.lost_on <= v.due:
                continue
            transition = adult_on is not None and abs((v.due - adult_on).days) < 365
            logit = p.attend_logit - 0.8 * transition - 0.5 * moved
            if rng.random() >= 1 / (1 + math.exp(-logit)):
                continue
            done = v.due + timedelta(days=int(np.clip(rng.normal(5, 30), -40, 120)))
            done = min(max(done, v.opens - timedelta(days=10)), today)
            form = None
            if v.kind in ("examination", "contact"):
                if p.malignancy is not None and not malignancy_told and p.malignancy[0] <= done:
                    form = YearlyForm(
                        new_malignancy=True,
                        malignancy_diagnosis=p.malignancy[1],
                        malignancy_date=p.malignancy[0],
                        malignancy_haematologic=True,
                    )
                    malignancy_told = True
                    counts["malignancies"] += 1
                else:
                    form = YearlyForm(
                        infections=bool(rng.random() < 0.08),
                        infections_detail="serious infection (SYNTHETIC)" if rng.random() < 0.08 else "",
                    )
            record_visit(
                session,
                scope,
                products,
                v.id,
                done_on=done,
                contact="visit" if v.kind == "examination" or rng.random() < 0.6 else "questionnaire",
                now=_at(done),
                form=form,
            )
            counts["visits_done"] += 1
        counts["patients"] += 1
        session.flush()
        if progress is not None:
            progress(p.id, k + 1, len(cohort.patients))
    transition_sweep(session, ages, _at(today))
    # SYNTHETIC coordinators: transition tasks due more than 90 days ago were completed on time
    for task in session.scalars(
        select(LtfuTaskRow).where(LtfuTaskRow.status == "open", LtfuTaskRow.due < today - timedelta(days=90))
    ):
        close_task(session, task.patient_id, task.kind, scope.actor, _at(task.due))
    mark_missed(session, today)
    session.flush()
    return counts
