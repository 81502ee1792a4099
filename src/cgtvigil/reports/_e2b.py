"""ICH E2B(R3) export: canonical cases to an MCCI_IN200100UV01 batch, XSD validation, and
acknowledgements (MCCI_IN200101UV01) for a received batch.

The element order follows the HL7 v3 schemas (PORR_MT049016UV) and FDA's example instances.
The HL7 schemas are not shipped (their files carry no licence or the HL7 notice with an
advertising clause): :func:`validate_e2b` takes the folder of the ICH schema package.
"""

from __future__ import annotations

import io
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Literal

from lxml import etree

from cgtvigil.errors import ValidationError
from cgtvigil.ingest import load_xsd
from cgtvigil.model import (
    CaseDocument,
    Code,
    Dosage,
    Drug,
    DrugHistory,
    IcsrCase,
    MedicalHistory,
    Null,
    Person,
    Quantity,
    Value,
)

__all__ = ["AckOutcome", "lost_elements", "validate_e2b", "write_ack", "write_e2b", "write_e2b_file"]

NS = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
L = "2.16.840.1.113883.3.989.2.1.1."
R = "2.16.840.1.113883.3.989.2.1.3."
OBS = L + "19"
NCIT = "2.16.840.1.113883.3.26.1.1"
FDA = "2.16.840.1.113883.3.989.5.1.2.2.1."
COUNTRY = "1.0.3166.1.2.2"
_T = f"{{{XSI}}}type"


def _e(parent: etree._Element, tag: str, **attrs: str | None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{NS}}}{tag}")
    for k, v in attrs.items():
        if v is not None:
            el.set(_T if k == "xsi_type" else k, v)
    return el


def _party(parent: etree._Element, role: str, extension: str, root: str) -> None:
    """A message's receiver or sender: ``<role typeCode><device><id extension root/>``."""
    typ = "RCV" if role == "receiver" else "SND"
    device = _e(_e(parent, role, typeCode=typ), "device", classCode="DEV", determinerCode="INSTANCE")
    _e(device, "id", extension=extension, root=root)


def _txt(parent: etree._Element, tag: str, value: str | Null | None, **attrs: str | None) -> etree._Element | None:
    if value is None:
        return None
    el = _e(parent, tag, **attrs)
    if isinstance(value, Null):
        el.set("nullFlavor", value.null_flavor)
    else:
        el.text = value
    return el


def _ts(parent: etree._Element, tag: str, value: str | Null | None, **attrs: str | None) -> etree._Element | None:
    if value is None:
        return None
    el = _e(parent, tag, **attrs)
    if isinstance(value, Null):
        el.set("nullFlavor", value.null_flavor)
    else:
        el.set("value", value)
    return el


def _bl(parent: etree._Element, tag: str, value: bool | Null | None) -> etree._Element | None:
    if value is None:
        return None
    el = _e(parent, tag, xsi_type="BL")
    if isinstance(value, Null):
        el.set("nullFlavor", value.null_flavor)
    else:
        el.set("value", "true" if value else "false")
    return el


def _cd(parent: etree._Element, tag: str, c: Code | None, xsi_type: str | None = None) -> etree._Element | None:
    if c is None:
        return None
    el = _e(
        parent,
        tag,
        xsi_type=xsi_type,
        code=c.code,
        codeSystem=c.system,
        codeSystemVersion=c.version,
        displayName=c.display,
        nullFlavor=c.null_flavor,
    )
    if c.original_text is not None:
        _e(el, "originalText").text = c.original_text
    return el


def _pq(parent: etree._Element, tag: str, q: Quantity | None, xsi_type: str | None = None) -> etree._Element | None:
    if q is None:
        return None
    return _e(parent, tag, xsi_type=xsi_type, value=q.value, unit=q.unit, nullFlavor=q.null_flavor)


def _value(parent: etree._Element, v: Value | None, tag: str = "value") -> etree._Element | None:
    if v is None:
        return None
    if v.type in ("CE", "CD", "CV"):
        el = _cd(parent, tag, v.code, v.type) if v.code is not None else _e(parent, tag, xsi_type=v.type)
        if el is not None and v.null_flavor and el.get("nullFlavor") is None:
            el.set("nullFlavor", v.null_flavor)
        return el
    el = _e(parent, tag, xsi_type=v.type, nullFlavor=v.null_flavor)
    if v.type in ("ST", "ED"):
        el.text = v.text
    elif v.type == "IVL_PQ":
        for name, q, closed in (("low", v.low, v.low_closed), ("high", v.high, v.high_closed)):
            if q is not None or closed is not None:
                inclusive = None if closed is None else ("true" if closed else "false")
                _e(
                    el,
                    name,
                    value=q.value if q else None,
                    unit=q.unit if q else None,
                    nullFlavor=q.null_flavor if q else None,
                    inclusive=inclusive,
                )
    else:
        if v.value is not None:
            el.set("value", v.value)
        if v.unit is not None:
            el.set("unit", v.unit)
    return el


def _interval(
    parent: etree._Element,
    low: str | Null | None,
    high: str | Null | None,
    width: Quantity | None,
    period: Quantity | None = None,
) -> None:
    """effectiveTime: IVL_TS (low and high, or low or high with width), or SXPR_TS when a
    frequency (PIVL_TS period) or start, end and duration together are given."""
    spans: list[tuple[str | Null | None, str | Null | None, Quantity | None]] = []
    if low is not None or high is not None:
        spans.append((low, high, None if (low is not None and high is not None) else width))
        if low is not None and high is not None and width is not None:
            spans.append((None, None, width))
    elif width is not None:
        spans.append((None, None, width))
    if period is None and len(spans) == 1:
        eff = _e(parent, "effectiveTime", xsi_type="IVL_TS")
        _span(eff, *spans[0])
        return
    if period is None and not spans:
        return
    eff = _e(parent, "effectiveTime", xsi_type="SXPR_TS")
    if period is not None:
        _pq(_e(eff, "comp", xsi_type="PIVL_TS"), "period", period)
    for i, span in enumerate(spans):
        comp = _e(eff, "comp", xsi_type="IVL_TS", operator="A" if period is not None or i else None)
        _span(comp, *span)


def _span(el: etree._Element, low: str | Null | None, high: str | Null | None, width: Quantity | None) -> None:
    _ts(el, "low", low)
    _pq(el, "width", width)
    _ts(el, "high", high)


def _code(parent: etree._Element, code: str, system: str = OBS, display: str | None = None) -> etree._Element:
    return _e(parent, "code", code=code, codeSystem=system, displayName=display)


def _obs(
    parent: etree._Element, rel: str, code: str, display: str, system: str = OBS, **rel_attrs: str
) -> etree._Element:
    holder = _e(parent, rel, typeCode=rel_attrs.get("typeCode", "SBJ"))
    obs = _e(holder, "observation", classCode="OBS", moodCode="EVN")
    _code(obs, code, system, display)
    return obs


# ---------------------------------------------------------------- sections


def _person(entity: etree._Element, p: Person, *, qualification: Code | None = None) -> None:
    """addr, telecom, assignedPerson (name, qualification, country), organisation (department, organisation)."""
    if any(x is not None for x in (p.street, p.city, p.state, p.postcode)):
        addr = _e(entity, "addr")
        _txt(addr, "streetAddressLine", p.street)
        _txt(addr, "city", p.city)
        _txt(addr, "state", p.state)
        _txt(addr, "postalCode", p.postcode)
    for t in p.telecom:
        _e(entity, "telecom", value=t)
    if any(x is not None for x in (p.title, p.given, p.middle, p.family, p.country, qualification)):
        person = _e(entity, "assignedPerson", classCode="PSN", determinerCode="INSTANCE")
        if any(x is not None for x in (p.title, p.given, p.middle, p.family)):
            name = _e(person, "name")
            _txt(name, "prefix", p.title)
            _txt(name, "given", p.given)
            _txt(name, "given", p.middle)
            _txt(name, "family", p.family)
        if qualification is not None:
            _cd(_e(person, "asQualifiedEntity", classCode="QUAL"), "code", qualification)
        if p.country is not None:
            loc = _e(person, "asLocatedEntity", classCode="LOCE")
            _cd(_e(loc, "location", classCode="COUNTRY", determinerCode="INSTANCE"), "code", p.country)
    if p.department is not None or p.organisation is not None:
        # the department (C.2.r.2.2, C.3.3.1) is the outer organisation, the organisation
        # (C.2.r.2.1, C.3.2) the one nested in it
        org = _e(entity, "representedOrganization", classCode="ORG", determinerCode="INSTANCE")
        _txt(org, "name", p.department)
        if p.organisation is not None:
            inner = _e(
                _e(org, "assignedEntity", classCode="ASSIGNED"),
                "representedOrganization",
                classCode="ORG",
                determinerCode="INSTANCE",
            )
            _txt(inner, "name", p.organisation)


def _history(
    role: etree._Element, items: Sequence[MedicalHistory], text: str | Null | None, concomitant: bool | Null | None
) -> None:
    if not items and text is None and concomitant is None:
        return
    org = _e(_e(role, "subjectOf2", typeCode="SBJ"), "organizer", classCode="CATEGORY", moodCode="EVN")
    _code(org, "1", L + "20", "relevantMedicalHistoryAndConcurrentConditions")
    for m in items:
        obs = _e(_e(org, "component", typeCode="COMP"), "observation", classCode="OBS", moodCode="EVN")
        if m.condition is not None:
            _cd(obs, "code", m.condition)
        else:
            _e(obs, "code")
        if m.start is not None or m.end is not None:
            eff = _e(obs, "effectiveTime", xsi_type="IVL_TS")
            _ts(eff, "low", m.start)
            _ts(eff, "high", m.end)
        for code, disp, val in (("10", "comment", m.comments),):
            if val is not None:
                o = _obs(obs, "outboundRelationship2", code, disp, typeCode="COMP")
                _txt(o, "value", val, xsi_type="ED")
        for code, disp, flag in (("38", "familyHistory", m.family_history),):
            if flag is not None:
                _bl(_obs(obs, "outboundRelationship2", code, disp, typeCode="EXPL"), "value", flag)
        if m.continuing is not None:
            _bl(_obs(obs, "inboundRelationship", "13", "continuing", typeCode="REFR"), "value", m.continuing)
    if text is not None:
        obs = _e(_e(org, "component", typeCode="COMP"), "observation", classCode="OBS", moodCode="EVN")
        _code(obs, "18", OBS, "historyAndConcurrentConditionText")
        _txt(obs, "value", text, xsi_type="ED")
    if concomitant is not None:
        obs = _e(_e(org, "component", typeCode="COMP"), "observation", classCode="OBS", moodCode="EVN")
        _code(obs, "11", OBS, "concomitantTherapy")
        _bl(obs, "value", concomitant)


def _drug_history(role: etree._Element, items: Sequence[DrugHistory]) -> None:
    if not items:
        return
    org = _e(_e(role, "subjectOf2", typeCode="SBJ"), "organizer", classCode="CATEGORY", moodCode="EVN")
    _code(org, "2", L + "20", "drugHistory")
    for d in items:
        sa = _e(_e(org, "component", typeCode="COMP"), "substanceAdministration", classCode="SBADM", moodCode="EVN")
        if d.start is not None or d.end is not None:
            eff = _e(sa, "effectiveTime", xsi_type="IVL_TS")
            _ts(eff, "low", d.start)
            _ts(eff, "high", d.end)
        kind = _e(
            _e(_e(sa, "consumable", typeCode="CSM"), "instanceOfKind", classCode="INST"),
            "kindOfProduct",
            classCode="MMAT",
            determinerCode="KIND",
        )
        _cd(kind, "code", d.product_code)
        _txt(kind, "name", d.name)
        for code, disp, c in (("19", "indication", d.indication), ("29", "reaction", d.reaction)):
            if c is not None:
                o = _e(_e(sa, "outboundRelationship2", typeCode="RSON"), "observation", classCode="OBS", moodCode="EVN")
                _e(o, "code", code=code, codeSystem=OBS, codeSystemVersion="1.1", displayName=disp)
                _cd(o, "value", c, "CE")


_SERIOUS = (
    ("34", "resultsInDeath", "death"),
    ("21", "isLifeThreatening", "life_threatening"),
    ("33", "requiresInpatientHospitalization", "hospitalisation"),
    ("35", "resultsInPersistentOrSignificantDisability", "disabling"),
    ("12", "congenitalAnomalyBirthDefect", "congenital_anomaly"),
    ("26", "otherMedicallyImportantCondition", "medically_important"),
)


def _reaction_rel(obs: etree._Element, code: str, disp: str, system: str = OBS) -> etree._Element:
    o = _e(_e(obs, "outboundRelationship2", typeCode="PERT"), "observation", classCode="OBS", moodCode="EVN")
    _code(o, code, system, disp)
    return o


def _patient_and_events(aea: etree._Element, case: IcsrCase) -> None:
    p = case.patient
    role = _e(_e(aea, "subject1", typeCode="SBJ"), "primaryRole", classCode="INVSBJ")
    player = _e(role, "player1", classCode="PSN", determinerCode="INSTANCE")
    _txt(player, "name", p.name)
    _cd(player, "administrativeGenderCode", p.sex)
    _ts(player, "birthTime", p.birth_date)
    if p.death is not None:
        _ts(player, "deceasedTime", p.death.date)
    if p.parent is not None:
        pa = p.parent
        prole = _e(player, "role", classCode="PRS")
        _e(prole, "code", code="PRN", codeSystem="2.16.840.1.113883.5.111")
        person = _e(prole, "associatedPerson", classCode="PSN", determinerCode="INSTANCE")
        _txt(person, "name", pa.name)
        _cd(person, "administrativeGenderCode", pa.sex)
        _ts(person, "birthTime", pa.birth_date)
        for code, disp, q in (("3", "age", pa.age), ("7", "bodyWeight", pa.weight), ("17", "height", pa.height)):
            if q is not None:
                _pq(_obs(prole, "subjectOf2", code, disp), "value", q, "PQ")
        if pa.last_menstrual_period is not None:
            _ts(
                _obs(prole, "subjectOf2", "22", "lastMenstrualPeriodDate"),
                "value",
                pa.last_menstrual_period,
                xsi_type="TS",
            )
        _history(prole, pa.medical_history, pa.history_text, None)
        _drug_history(prole, pa.drug_history)
    if case.study is not None:
        s = case.study
        rs = _e(_e(role, "subjectOf1", typeCode="SBJ"), "researchStudy", classCode="CLNTRL", moodCode="EVN")
        if s.sponsor_study_number is not None:
            i = _e(rs, "id", root=R + "5")
            if isinstance(s.sponsor_study_number, Null):
                i.set("nullFlavor", s.sponsor_study_number.null_flavor)
            else:
                i.set("extension", s.sponsor_study_number)
        _cd(rs, "code", s.study_type)
        _txt(rs, "title", s.name)
        regs: list[tuple[str, str, Code | None]] = [(num, R + "6", c) for num, c in s.registrations]
        regs += [(n, FDA + "2.1", None) for n in s.fda_ind]
        regs += [(n, FDA + "2.2", None) for n in s.fda_pre_anda]
        regs += [(n, FDA + "2.3", None) for n in s.fda_cross_reported_ind]
        for num, root, country in regs:
            reg = _e(_e(rs, "authorization", typeCode="AUTH"), "studyRegistration", classCode="ACT", moodCode="EVN")
            _e(reg, "id", extension=num, root=root)
            if country is not None:
                terr = _e(_e(reg, "author", typeCode="AUT"), "territorialAuthority", classCode="TERR")
                _cd(_e(terr, "governingPlace", classCode="COUNTRY", determinerCode="INSTANCE"), "code", country)
    for code, disp, q in (("3", "age", p.age), ("16", "gestationPeriod", p.gestation)):
        if q is not None:
            _pq(_obs(role, "subjectOf2", code, disp), "value", q, "PQ")
    if p.age_group is not None:
        _cd(_obs(role, "subjectOf2", "4", "Age Group"), "value", p.age_group, "CE")
    for code, disp, q in (("7", "bodyWeight", p.weight), ("17", "height", p.height)):
        if q is not None:
            _pq(_obs(role, "subjectOf2", code, disp), "value", q, "PQ")
    if p.last_menstrual_period is not None:
        _ts(_obs(role, "subjectOf2", "22", "lastMenstrualPeriodDate"), "value", p.last_menstrual_period, xsi_type="TS")
    for race in p.race:
        _cd(_obs(role, "subjectOf2", "C17049", "Race", NCIT), "value", race, "CE")
    if p.ethnicity is not None:
        _cd(_obs(role, "subjectOf2", "C16564", "Ethnic Group", NCIT), "value", p.ethnicity, "CE")
    if p.death is not None:
        for c in p.death.reported_causes:
            _cd(_obs(role, "subjectOf2", "32", "reportedCauseOfDeath"), "value", c, "CE")
        if p.death.autopsy is not None or p.death.autopsy_causes:
            o = _obs(role, "subjectOf2", "5", "autopsy")
            _bl(o, "value", p.death.autopsy)
            for c in p.death.autopsy_causes:
                a = _e(_e(o, "outboundRelationship2", typeCode="DRIV"), "observation", classCode="OBS", moodCode="EVN")
                _code(a, "8", OBS, "autopsyDeterminedCauseOfDeath")
                _cd(a, "value", c, "CE")
    _history(role, p.medical_history, p.history_text, p.concomitant_therapies)
    _drug_history(role, p.drug_history)
    for r in case.reactions:
        obs = _e(_e(role, "subjectOf2", typeCode="SBJ"), "observation", classCode="OBS", moodCode="EVN")
        if r.id is not None:
            _e(obs, "id", root=r.id)
        _code(obs, "29", OBS, "reaction")
        _interval(obs, r.start, r.end, r.duration)
        m = r.meddra
        val = _e(
            obs,
            "value",
            xsi_type="CE",
            code=m.code if m else None,
            codeSystem=m.system if m else None,
            codeSystemVersion=m.version if m else None,
            displayName=m.display if m else None,
            nullFlavor=m.null_flavor if m else None,
        )
        if r.as_reported is not None:
            _txt(val, "originalText", r.as_reported, language=r.as_reported_language)
        if r.country is not None:
            loc = _e(_e(obs, "location", typeCode="LOC"), "locatedEntity", classCode="LOCE")
            _cd(_e(loc, "locatedPlace", classCode="COUNTRY", determinerCode="INSTANCE"), "code", r.country)
        if r.translation is not None:
            o = _e(_e(obs, "outboundRelationship2", typeCode="PERT"), "observation", classCode="OBS", moodCode="EVN")
            _e(o, "code", code="30", codeSystemVersion="1.1", codeSystem=OBS, displayName="reactionForTranslation")
            _txt(o, "value", r.translation, xsi_type="ED")
        if r.highlighted is not None:
            o = _e(_e(obs, "outboundRelationship2", typeCode="PERT"), "observation", classCode="OBS", moodCode="EVN")
            _e(o, "code", code="37", codeSystemVersion="1.1", codeSystem=OBS, displayName="termHighlightedByReporter")
            _cd(o, "value", r.highlighted, "CE")
        for code, disp, name in _SERIOUS:
            flag = getattr(r, name)
            if flag is not None:
                _bl(_reaction_rel(obs, code, disp), "value", flag)
        if r.required_intervention is not None:
            _bl(_reaction_rel(obs, "7", "requiredIntervention", FDA + "3"), "value", r.required_intervention)
        if r.outcome is not None:
            _cd(_reaction_rel(obs, "27", "outcome"), "value", r.outcome, "CE")
        if r.medically_confirmed is not None:
            _bl(_reaction_rel(obs, "24", "medicalConfirmationByHealthProfessional"), "value", r.medically_confirmed)
    if case.tests:
        org = _e(_e(role, "subjectOf2", typeCode="SBJ"), "organizer", classCode="CATEGORY", moodCode="EVN")
        _code(org, "3", L + "20", "testsAndProceduresRelevantToTheInvestigation")
        for t in case.tests:
            obs = _e(_e(org, "component", typeCode="COMP"), "observation", classCode="OBS", moodCode="EVN")
            m = t.meddra
            c = _e(
                obs,
                "code",
                code=m.code if m else None,
                codeSystem=m.system if m else None,
                codeSystemVersion=m.version if m else None,
                displayName=m.display if m else None,
                nullFlavor=m.null_flavor if m else None,
            )
            _txt(c, "originalText", t.name)
            _ts(obs, "effectiveTime", t.date)
            if t.result is not None:
                _value(obs, t.result)
            elif t.result_text is not None:
                _txt(obs, "value", t.result_text, xsi_type="ED")
            _cd(obs, "interpretationCode", t.result_code)
            for q, code in ((t.normal_low, "L"), (t.normal_high, "H")):
                if q is not None:
                    rr = _e(
                        _e(obs, "referenceRange", typeCode="REFV"),
                        "observationRange",
                        classCode="OBS",
                        moodCode="EVN.CRT",
                    )
                    _pq(rr, "value", q, "PQ")
                    _e(rr, "interpretationCode", code=code, codeSystem="2.16.840.1.113883.5.83")
            if t.comments is not None:
                o = _e(
                    _e(obs, "outboundRelationship2", typeCode="REFR"), "observation", classCode="OBS", moodCode="EVN"
                )
                _code(o, "10", OBS, "comment")
                _txt(o, "value", t.comments, xsi_type="ED")
            if t.more_information is not None:
                o = _e(
                    _e(obs, "outboundRelationship2", typeCode="REFR"), "observation", classCode="OBS", moodCode="EVN"
                )
                _code(o, "25", OBS, "moreInformationAvailable")
                _bl(o, "value", t.more_information)
    if case.drugs:
        org = _e(_e(role, "subjectOf2", typeCode="SBJ"), "organizer", classCode="CATEGORY", moodCode="EVN")
        _code(org, "4", L + "20", "drugInformation")
        for d in case.drugs:
            _drug(_e(org, "component", typeCode="COMP"), d)


def _dosage(parent: etree._Element, x: Dosage) -> None:
    sa = _e(
        _e(parent, "outboundRelationship2", typeCode="COMP"),
        "substanceAdministration",
        classCode="SBADM",
        moodCode="EVN",
    )
    _txt(sa, "text", x.text)
    if x.time_null_flavor is not None:
        _e(sa, "effectiveTime", nullFlavor=x.time_null_flavor)
    else:
        _interval(sa, x.start, x.end, x.duration, x.period)
    _cd(sa, "routeCode", x.route)
    _pq(sa, "doseQuantity", x.dose)
    if x.lot_number is not None or x.dose_form is not None:
        inst = _e(_e(sa, "consumable", typeCode="CSM"), "instanceOfKind", classCode="INST")
        if x.lot_number is not None:
            _txt(
                _e(inst, "productInstanceInstance", classCode="MMAT", determinerCode="INSTANCE"),
                "lotNumberText",
                x.lot_number,
            )
        kind = _e(inst, "kindOfProduct", classCode="MMAT", determinerCode="KIND")
        _cd(kind, "formCode", x.dose_form)
    if x.country_obtained is not None:
        org = _e(
            _e(_e(sa, "performer", typeCode="PRF"), "assignedEntity", classCode="ASSIGNED"),
            "representedOrganization",
            classCode="ORG",
            determinerCode="INSTANCE",
        )
        _e(_e(org, "addr"), "country").text = x.country_obtained
    if x.parent_route is not None:
        o = _e(_e(sa, "inboundRelationship", typeCode="REFR"), "observation", classCode="OBS", moodCode="EVN")
        _code(o, "28", OBS, "parentRouteOfAdministration")
        _cd(o, "value", x.parent_route, "CE")


def _drug(component: etree._Element, d: Drug) -> None:
    sa = _e(component, "substanceAdministration", classCode="SBADM", moodCode="EVN")
    if d.id is not None:
        _e(sa, "id", root=d.id)
    inst = _e(_e(sa, "consumable", typeCode="CSM"), "instanceOfKind", classCode="INST")
    kind = _e(inst, "kindOfProduct", classCode="MMAT", determinerCode="KIND")
    _cd(kind, "code", d.product_code)
    _txt(kind, "name", d.name)
    if d.authorisation_number is not None or d.holder is not None or d.authorisation_country is not None:
        appr = _e(
            _e(_e(kind, "asManufacturedProduct", classCode="MANU"), "subjectOf", typeCode="SBJ"),
            "approval",
            classCode="CNTRCT",
            moodCode="EVN",
        )
        if d.authorisation_number is not None:
            i = _e(appr, "id", root=R + "4")
            if isinstance(d.authorisation_number, Null):
                i.set("nullFlavor", d.authorisation_number.null_flavor)
            else:
                i.set("extension", d.authorisation_number)
        if d.holder is not None:
            pl = _e(
                _e(_e(appr, "holder", typeCode="HLD"), "role", classCode="HLD"),
                "playingOrganization",
                classCode="ORG",
                determinerCode="INSTANCE",
            )
            _txt(pl, "name", d.holder)
        if d.authorisation_country is not None:
            terr = _e(_e(appr, "author", typeCode="AUT"), "territorialAuthority", classCode="TERR")
            _cd(_e(terr, "territory", classCode="NAT", determinerCode="INSTANCE"), "code", d.authorisation_country)
    if d.fda_product_category is not None:
        gen = _e(
            _e(kind, "asSpecializedKind", classCode="GEN"),
            "generalizedMaterialKind",
            classCode="MAT",
            determinerCode="KIND",
        )
        _cd(gen, "code", d.fda_product_category)
    for ing in d.ingredients:
        i = _e(kind, "ingredient", classCode="ACTI")
        if ing.strength is not None:  # a denominator alone says nothing; the default one is 1 "1"
            q = _e(i, "quantity")
            _pq(q, "numerator", ing.strength)
            _pq(q, "denominator", ing.strength_per or Quantity(value="1", unit="1"))
        sub = _e(i, "ingredientSubstance", classCode="MMAT", determinerCode="KIND")
        _cd(sub, "code", ing.code)
        _txt(sub, "name", ing.name)
    for dev in d.devices:
        prod = _e(_e(kind, "part", classCode="PART"), "partProduct", classCode="DEV", determinerCode="KIND")
        _cd(prod, "code", dev.code)
        for n in dev.names:
            _e(prod, "name").text = n
        if dev.manufacturer is not None or dev.characteristics:
            manu = _e(prod, "asManufacturedProduct", classCode="MANU")
            if dev.manufacturer is not None:
                m = dev.manufacturer
                mo = _e(manu, "manufacturerOrganization", classCode="ORG", determinerCode="INSTANCE")
                _txt(mo, "name", m.organisation)
                addr = _e(mo, "addr")
                _txt(addr, "streetAddressLine", m.street)
                _txt(addr, "city", m.city)
                _txt(addr, "state", m.state)
                if m.country is not None and m.country.code is not None:
                    _e(addr, "country").text = m.country.code
            for ch in dev.characteristics:
                c = _e(_e(manu, "subjectOf", typeCode="SBJ"), "characteristic", classCode="OBS", moodCode="EVN")
                _cd(c, "code", ch.code)
                _value(c, ch.value)
        if dev.lot_number is not None:
            pi = _e(
                _e(prod, "instanceOfKind", classCode="INST"),
                "productInstanceInstance",
                classCode="MMAT",
                determinerCode="INSTANCE",
            )
            _txt(pi, "lotNumberText", dev.lot_number)
    if d.country_obtained is not None or d.supply is not None:
        ev = _e(_e(inst, "subjectOf", typeCode="SBJ"), "productEvent", classCode="ACT", moodCode="EVN")
        _cd(ev, "code", d.supply or Code(code="1", system=L + "18", display="retailSupply"))
        if d.country_obtained is not None:
            org = _e(
                _e(_e(ev, "performer", typeCode="PRF"), "assignedEntity", classCode="ASSIGNED"),
                "representedOrganization",
                classCode="ORG",
                determinerCode="INSTANCE",
            )
            _e(_e(org, "addr"), "country").text = d.country_obtained
    for a in d.assessments:
        for typ, q in (("SAS", a.start_interval), ("SAE", a.last_dose_interval)):
            if q is not None:
                rel = _e(sa, "outboundRelationship1", typeCode=typ)
                _pq(rel, "pauseQuantity", q)
                _e(_e(rel, "actReference", classCode="OBS", moodCode="EVN"), "id", root=a.reaction_id)
    for x in d.dosages:
        _dosage(sa, x)
    for code, disp, q in (
        ("14", "cumulativeDoseToReaction", d.cumulative_dose),
        ("16", "gestationPeriod", d.gestation_at_exposure),
    ):
        if q is not None:
            o = _e(_e(sa, "outboundRelationship2", typeCode="SUMM"), "observation", classCode="OBS", moodCode="EVN")
            _code(o, code, OBS, disp)
            _pq(o, "value", q, "PQ")
    if d.blinded is not None:
        o = _e(_e(sa, "outboundRelationship2", typeCode="PERT"), "observation", classCode="OBS", moodCode="EVN")
        _code(o, "6", OBS, "blinded")
        _bl(o, "value", d.blinded)
    for a in d.assessments:
        if a.recurrence is not None:
            o = _e(_e(sa, "outboundRelationship2", typeCode="PERT"), "observation", classCode="OBS", moodCode="EVN")
            _code(o, "31", OBS, "recurranceOfReaction")
            _cd(o, "value", a.recurrence, "CE")
            _e(
                _e(_e(o, "outboundRelationship1", typeCode="REFR"), "actReference", classCode="OBS", moodCode="EVN"),
                "id",
                root=a.reaction_id,
            )
    for c in d.additional_info:
        o = _e(_e(sa, "outboundRelationship2", typeCode="REFR"), "observation", classCode="OBS", moodCode="EVN")
        _e(o, "code", code="9", codeSystem=OBS, codeSystemVersion="1.1", displayName="codedDrugInformation")
        _cd(o, "value", c, "CE")
    if d.additional_info_text is not None:
        o = _e(_e(sa, "outboundRelationship2", typeCode="REFR"), "observation", classCode="OBS", moodCode="EVN")
        _code(o, "2", OBS, "additionalInformation")
        _txt(o, "value", d.additional_info_text, xsi_type="ST")
    for ind in d.indications:
        o = _e(_e(sa, "inboundRelationship", typeCode="RSON"), "observation", classCode="OBS", moodCode="EVN")
        _e(o, "code", code="19", codeSystemVersion="1.1", codeSystem=OBS, displayName="indication")
        _cd(o, "value", ind, "CE")
        perf = _e(_e(o, "performer", typeCode="PRF"), "assignedEntity", classCode="ASSIGNED")
        _e(perf, "code", code="3", codeSystemVersion="1.0", codeSystem=L + "21", displayName="sourceReporter")
    if d.action_taken is not None:
        act = _e(_e(sa, "inboundRelationship", typeCode="CAUS"), "act", classCode="ACT", moodCode="EVN")
        _cd(act, "code", d.action_taken)


def _role(aea: etree._Element, drug_id: str, role: Code) -> None:
    ca = _e(_e(aea, "component", typeCode="COMP"), "causalityAssessment", classCode="OBS", moodCode="EVN")
    _code(ca, "20", OBS, "interventionCharacterization")
    _cd(ca, "value", role, "CE")
    _e(
        _e(_e(ca, "subject2", typeCode="SUBJ"), "productUseReference", classCode="SBADM", moodCode="EVN"),
        "id",
        root=drug_id,
    )


def _assessments(aea: etree._Element, case: IcsrCase) -> None:
    # drugs sharing an id share their role and assessments: written once, for the first of them
    first: dict[str, Drug] = {}
    for d in case.drugs:
        if d.id is not None:
            first.setdefault(d.id, d)
    for drug_id, d in first.items():
        if d.role is not None:
            _role(aea, drug_id, d.role)
        if d.fda_other_role is not None:
            _role(aea, drug_id, d.fda_other_role)
    for drug_id, c in case.orphan_roles:
        _role(aea, drug_id, c)
    matrix = [
        (drug_id, a.reaction_id, rel) for drug_id, d in first.items() for a in d.assessments for rel in a.relatedness
    ]
    for drug_id, reaction_id, rel in [*matrix, *case.orphan_relatedness]:
        ca = _e(_e(aea, "component", typeCode="COMP"), "causalityAssessment", classCode="OBS", moodCode="EVN")
        _code(ca, "39", OBS, "causality")
        _txt(ca, "value", rel.result, xsi_type="ST")
        if rel.method is not None:
            _txt(_e(ca, "methodCode"), "originalText", rel.method)
        if rel.source is not None:
            code = _e(_e(_e(ca, "author", typeCode="AUT"), "assignedEntity", classCode="ASSIGNED"), "code")
            _txt(code, "originalText", rel.source)
        reaction = _e(_e(ca, "subject1", typeCode="SUBJ"), "adverseEffectReference", classCode="OBS", moodCode="EVN")
        _e(reaction, "id", root=reaction_id)
        product = _e(_e(ca, "subject2", typeCode="SUBJ"), "productUseReference", classCode="SBADM", moodCode="EVN")
        _e(product, "id", root=drug_id)
    for who, disp, text in (("3", "sourceReporter", case.reporter_comments), ("1", "sender", case.sender_comments)):
        if text is not None:
            oe = _e(_e(aea, "component1", typeCode="COMP"), "observationEvent", classCode="OBS", moodCode="EVN")
            _code(oe, "10", OBS, "comment")
            _txt(oe, "value", text, xsi_type="ED")
            _e(
                _e(_e(oe, "author", typeCode="AUT"), "assignedEntity", classCode="ASSIGNED"),
                "code",
                code=who,
                codeSystem=L + "21",
                displayName=disp,
            )
    for diag in case.sender_diagnoses:
        oe = _e(_e(aea, "component1", typeCode="COMP"), "observationEvent", classCode="OBS", moodCode="EVN")
        _code(oe, "15", OBS, "diagnosis")
        _cd(oe, "value", diag, "CE")
        _e(
            _e(_e(oe, "author", typeCode="AUT"), "assignedEntity", classCode="ASSIGNED"),
            "code",
            code="1",
            codeSystem=L + "21",
            displayName="sender",
        )


def _document(ie: etree._Element, doc: CaseDocument) -> None:
    d = _e(_e(ie, "reference", typeCode="REFR"), "document", classCode="DOC", moodCode="EVN")
    _cd(d, "code", doc.code or Code(code="1" if doc.kind == "document" else "2", system=L + "27"))
    if doc.kind == "document":
        _txt(d, "title", doc.title)
    if doc.content is not None or doc.reference is not None or doc.media_type is not None:
        t = _e(d, "text", mediaType=doc.media_type, representation=doc.representation)
        if doc.content is not None:
            t.text = doc.content
        if doc.reference is not None:
            _e(t, "reference", value=doc.reference)
    if doc.kind == "literature":
        _txt(d, "bibliographicDesignationText", doc.title)


def _with_ids(case: IcsrCase) -> IcsrCase:
    """Reactions and drugs need ids in E2B (the matrix refers to them): give those without one
    a UUID derived from the report id and the position, so the same case gets the same ids."""
    if all(r.id for r in case.reactions) and all(d.id for d in case.drugs):
        return case

    def uid(kind: str, k: int) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cgtvigil:{case.safety_report_id}:{kind}:{k}"))

    return case.model_copy(
        update={
            "reactions": tuple(
                r if r.id else r.model_copy(update={"id": uid("reaction", k)}) for k, r in enumerate(case.reactions)
            ),
            "drugs": tuple(
                d if d.id else d.model_copy(update={"id": uid("drug", k)}) for k, d in enumerate(case.drugs)
            ),
        }
    )


def _icsr(batch: etree._Element, case: IcsrCase, *, receiver: str | None, sender: str | None, now: str) -> None:
    case = _with_ids(case)
    msg = _e(batch, "PORR_IN049016UV")
    _e(msg, "id", extension=case.message_id or case.safety_report_id, root=R + "1")
    _ts(msg, "creationTime", case.message_created or now)
    _e(msg, "interactionId", extension="PORR_IN049016UV", root="2.16.840.1.113883.1.6")
    _e(msg, "processingCode", code="P")
    _e(msg, "processingModeCode", code="I")
    _e(msg, "acceptAckCode", code="AL")
    rd = _e(_e(msg, "receiver", typeCode="RCV"), "device", classCode="DEV", determinerCode="INSTANCE")
    _e(rd, "id", extension=case.message_receiver or receiver, root=R + "12")
    sd = _e(_e(msg, "sender", typeCode="SND"), "device", classCode="DEV", determinerCode="INSTANCE")
    _e(sd, "id", extension=case.message_sender or sender, root=R + "11")
    cap = _e(msg, "controlActProcess", classCode="CACT", moodCode="EVN")
    _e(cap, "code", code="PORR_TE049016UV", codeSystem="2.16.840.1.113883.1.18")
    _ts(cap, "effectiveTime", case.created or now)
    ie = _e(_e(cap, "subject", typeCode="SUBJ"), "investigationEvent", classCode="INVSTG", moodCode="EVN")
    _e(ie, "id", extension=case.safety_report_id, root=R + "1")
    _e(ie, "id", extension=case.worldwide_id or case.safety_report_id, root=R + "2")
    _e(ie, "code", code="PAT_ADV_EVNT", codeSystem="2.16.840.1.113883.5.4")
    _txt(ie, "text", case.narrative)
    _e(ie, "statusCode", code="active")
    if case.first_received is not None:
        _ts(_e(ie, "effectiveTime"), "low", case.first_received)
    _ts(ie, "availabilityTime", case.most_recent)
    for doc in case.documents:
        _document(ie, doc)
    aea = _e(_e(ie, "component", typeCode="COMP"), "adverseEventAssessment", classCode="INVSTG", moodCode="EVN")
    _patient_and_events(aea, case)
    _assessments(aea, case)
    for code, disp, flag in (
        ("1", "additionalDocumentsAvailable", case.additional_documents),
        ("23", "localCriteriaForExpedited", case.expedited),
    ):
        if flag is not None:
            oe = _e(_e(ie, "component", typeCode="COMP"), "observationEvent", classCode="OBS", moodCode="EVN")
            _code(oe, code, OBS, disp)
            _bl(oe, "value", flag)
    if case.fda_local_criteria is not None:
        oe = _e(_e(ie, "component", typeCode="COMP"), "observationEvent", classCode="OBS", moodCode="EVN")
        _code(oe, "C54588", NCIT, "localCriteriaReportType")
        _cd(oe, "value", case.fda_local_criteria, "CE")
    if case.fda_combination_product is not None:
        oe = _e(_e(ie, "component", typeCode="COMP"), "observationEvent", classCode="OBS", moodCode="EVN")
        _code(oe, "C156384", NCIT, "Combination Product Report Indicator")
        _bl(oe, "value", case.fda_combination_product)
    for text, lang in case.summaries:
        oe = _e(_e(ie, "component", typeCode="COMP"), "observationEvent", classCode="OBS", moodCode="EVN")
        _code(oe, "36", OBS, "summaryAndComment")
        _e(oe, "value", xsi_type="ED", language=lang).text = text
        _e(
            _e(_e(oe, "author", typeCode="AUT"), "assignedEntity", classCode="ASSIGNED"),
            "code",
            code="2",
            codeSystem=L + "21",
            displayName="reporter",
        )
    if case.first_sender is not None:
        ri = _e(
            _e(ie, "outboundRelationship", typeCode="SPRT"), "relatedInvestigation", classCode="INVSTG", moodCode="EVN"
        )
        _code(ri, "1", L + "22", "initialReport")
        ae = _e(
            _e(
                _e(_e(ri, "subjectOf2", typeCode="SUBJ"), "controlActEvent", classCode="CACT", moodCode="EVN"),
                "author",
                typeCode="AUT",
            ),
            "assignedEntity",
            classCode="ASSIGNED",
        )
        _cd(ae, "code", case.first_sender)
    for link in case.linked_reports:
        ri = _e(
            _e(ie, "outboundRelationship", typeCode="SPRT"), "relatedInvestigation", classCode="INVSTG", moodCode="EVN"
        )
        _e(ri, "code", nullFlavor="NA")
        cae = _e(_e(ri, "subjectOf2", typeCode="SUBJ"), "controlActEvent", classCode="CACT", moodCode="EVN")
        _e(cae, "id", extension=link, root=R + "2")
    for ps in case.primary_sources:
        ob = _e(ie, "outboundRelationship", typeCode="SPRT")
        if ps.regulatory:
            _e(ob, "priorityNumber", value="1")
        ri = _e(ob, "relatedInvestigation", classCode="INVSTG", moodCode="EVN")
        _code(ri, "2", L + "22", "sourceReport")
        ae = _e(
            _e(
                _e(_e(ri, "subjectOf2", typeCode="SUBJ"), "controlActEvent", classCode="CACT", moodCode="EVN"),
                "author",
                typeCode="AUT",
            ),
            "assignedEntity",
            classCode="ASSIGNED",
        )
        _person(ae, ps.person, qualification=ps.qualification)
    for source, ident in case.other_ids:
        cae = _e(_e(ie, "subjectOf1", typeCode="SUBJ"), "controlActEvent", classCode="CACT", moodCode="EVN")
        _e(cae, "id", assigningAuthorityName=source, extension=ident, root=R + "3")
    if case.sender is not None:
        cae = _e(_e(ie, "subjectOf1", typeCode="SUBJ"), "controlActEvent", classCode="CACT", moodCode="EVN")
        ae = _e(_e(cae, "author", typeCode="AUT"), "assignedEntity", classCode="ASSIGNED")
        _cd(ae, "code", case.sender.type)
        _person(ae, case.sender.person)
    chars: list[tuple[str, str, str, Any]] = [
        ("1", L + "23", "ICH ReportType", case.report_type),
        ("2", L + "23", "otherCaseIds", case.other_ids_exist),
        ("3", L + "23", "nullificationAmendmentCode", case.nullification),
        ("4", L + "23", "nullificationAmendmentReason", case.nullification_reason),
    ]
    for code, system, disp, v in chars:
        if v is None:
            continue
        ic = _e(_e(ie, "subjectOf2", typeCode="SUBJ"), "investigationCharacteristic", classCode="OBS", moodCode="EVN")
        _code(ic, code, system, disp)
        if isinstance(v, Code):
            _cd(ic, "value", v, "CE")
        elif isinstance(v, bool) or (isinstance(v, Null) and code == "2"):
            _bl(ic, "value", v)
        else:
            val = _e(ic, "value", xsi_type="CE")
            _txt(val, "originalText", v)


def write_e2b(
    cases: Iterable[IcsrCase],
    *,
    batch_id: str,
    sender: str,
    receiver: str,
    created: str | None = None,
) -> bytes:
    """The cases as one E2B(R3) batch (``MCCI_IN200100UV01``), UTF-8 XML bytes.

    ``sender`` and ``receiver`` are the batch identifiers N.1.3/N.1.4 (FDA: ``ZZFDA`` postmarket,
    ``ZZFDA_PREMKT`` premarket); each case keeps its own message header (N.2.r) when it has one.
    """
    out = io.BytesIO()
    write_e2b_file(cases, out, batch_id=batch_id, sender=sender, receiver=receiver, created=created)
    return out.getvalue()


def write_e2b_file(
    cases: Iterable[IcsrCase],
    out: Path | BinaryIO,
    *,
    batch_id: str,
    sender: str,
    receiver: str,
    created: str | None = None,
) -> int:
    """Stream the batch to a file (or binary stream), one report in memory at a time; returns
    the number of reports written. Same content as :func:`write_e2b`."""
    now = created or datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    n = 0
    with etree.xmlfile(str(out) if isinstance(out, Path) else out, encoding="UTF-8") as xf:
        xf.write_declaration()
        attrs = {"ITSVersion": "XML_1.0", f"{{{XSI}}}schemaLocation": f"{NS} MCCI_IN200100UV01.xsd"}
        with xf.element(f"{{{NS}}}MCCI_IN200100UV01", attrs, nsmap={None: NS, "xsi": XSI}):
            head = etree.Element(f"{{{NS}}}head", nsmap={None: NS, "xsi": XSI})
            _e(head, "id", extension=batch_id, root=R + "22")
            _e(head, "creationTime", value=now)
            _e(head, "responseModeCode", code="D")
            _e(head, "interactionId", extension="MCCI_IN200100UV01", root="2.16.840.1.113883.1.6")
            _e(head, "name", code="1", displayName="ichicsr", codeSystem=L + "1")
            for el in head:
                xf.write(el, pretty_print=True)
            for case in cases:
                holder = etree.Element(f"{{{NS}}}holder", nsmap={None: NS, "xsi": XSI})
                _icsr(holder, case, receiver=receiver, sender=sender, now=now)
                xf.write(holder[0], pretty_print=True)
                n += 1
            tail = etree.Element(f"{{{NS}}}tail", nsmap={None: NS, "xsi": XSI})
            for tag, value, root in (("receiver", receiver, R + "14"), ("sender", sender, R + "13")):
                typ = "RCV" if tag == "receiver" else "SND"
                dev = _e(_e(tail, tag, typeCode=typ), "device", classCode="DEV", determinerCode="INSTANCE")
                _e(dev, "id", extension=value, root=root)
            for el in tail:
                xf.write(el, pretty_print=True)
    return n


@lru_cache(maxsize=4)
def _xmlschema(path: str) -> Any:
    import xmlschema

    return xmlschema.XMLSchema10(path, allow="local")  # never fetches a remote schema


def validate_e2b(
    xml: bytes, schema_dir: Path, *, ack: bool = False, engine: Literal["lxml", "xmlschema"] = "lxml"
) -> list[str]:
    """XSD problems of an E2B(R3) batch (or acknowledgement) against the ICH/HL7 schema folder.

    ``schema_dir`` holds ``multicacheschemas/`` and ``coreschemas/`` from the ICH E2B(R3)
    package (not shipped with cgtvigil: several of its files carry no licence). Returns one line
    per problem, ``line N: path: message``; an empty list means valid. ``engine="lxml"``
    (libxml2, fast) or ``"xmlschema"`` (pure Python, slower to load, messages with the
    schema path of the failing particle).
    """
    xsd = Path(schema_dir) / "multicacheschemas" / ("MCCI_IN200101UV01.xsd" if ack else "MCCI_IN200100UV01.xsd")
    if not xsd.is_file():
        raise ValidationError(
            [
                f"The 'schema_dir' parameter of validate_e2b must be the ICH schema folder holding "
                f"{xsd.relative_to(schema_dir)}. Got {str(schema_dir)!r}."
            ]
        )
    doc = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    if engine == "xmlschema":
        return [
            f"line {getattr(e.elem, 'sourceline', '?')}: {e.path}: {e.reason}"
            for e in _xmlschema(str(xsd)).iter_errors(etree.ElementTree(doc))
        ]
    schema = load_xsd(str(xsd))
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.path}: {e.message}" for e in schema.error_log]


@dataclass(frozen=True)
class AckOutcome:
    """Per-report outcome for an acknowledgement: the report id (C.1.1) and its problems (none =
    accepted, CA; any = rejected, CR), with the report's N.2.r.4 when known."""

    safety_report_id: str
    problems: Sequence[str] = ()
    message_created: str | None = None


def write_ack(
    outcomes: Sequence[AckOutcome],
    *,
    batch_id: str | None,
    ack_id: str,
    sender: str,
    receiver: str,
    batch_created: str | None = None,
    created: str | None = None,
    batch_problem: str | None = None,
) -> bytes:
    """An MCCI_IN200101UV01 acknowledgement: AA (all accepted), AE (some rejected) or AR (the
    batch rejected, ``batch_problem``), with CA or CR and the problems for each report."""
    now = created or datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    root = etree.Element(f"{{{NS}}}MCCI_IN200101UV01", nsmap={None: NS, "xsi": XSI})
    root.set("ITSVersion", "XML_1.0")
    _e(root, "id", extension=ack_id, root=R + "20")
    _e(root, "creationTime", value=now)
    _e(root, "responseModeCode", code="D")
    _e(root, "interactionId", extension="MCCI_IN200101UV01", root="2.16.840.1.113883.1.6")
    for n, o in enumerate(outcomes, 1):
        msg = _e(root, "MCCI_IN000002UV01")
        _e(msg, "id", extension=f"{ack_id}-{n}", root=R + "19")
        _e(msg, "creationTime", value=now)
        _e(msg, "interactionId", extension="MCCI_IN000002UV01", root="2.16.840.1.113883.1.6")
        _e(msg, "processingCode", code="P")
        _e(msg, "processingModeCode", code="T")
        _e(msg, "acceptAckCode", code="NE")
        _party(msg, "receiver", receiver, R + "16")
        _party(msg, "sender", sender, R + "15")
        if o.message_created is not None:
            al = _e(msg, "attentionLine")
            _e(
                al,
                "keyWordText",
                code="1",
                codeSystem=L + "24",
                codeSystemVersion="1.0",
                displayName="dateOfIcsrMessageCreation",
            )
            _e(al, "value", value=o.message_created, xsi_type="TS")
        ack = _e(msg, "acknowledgement", typeCode="CR" if o.problems else "CA")
        _e(_e(ack, "targetMessage"), "id", extension=o.safety_report_id, root=R + "1")
        if o.problems:
            _e(_e(ack, "acknowledgementDetail"), "text").text = ";".join(o.problems)
    _party(root, "receiver", receiver, R + "18")
    _party(root, "sender", sender, R + "17")
    if batch_created is not None:
        al = _e(root, "attentionLine")
        _e(
            al,
            "keyWordText",
            code="3",
            codeSystem=L + "24",
            codeSystemVersion="1.0",
            displayName="dateOfIcsrBatchTransmission",
        )
        _e(al, "value", value=batch_created, xsi_type="TS")
    rejected = sum(1 for o in outcomes if o.problems)
    code = "AR" if batch_problem else ("AE" if rejected else "AA")
    ack = _e(root, "acknowledgement", typeCode=code)
    _e(_e(ack, "targetBatch"), "id", extension=batch_id or "UNKNOWN", root=R + "22")
    detail = batch_problem or (f"{rejected} of {len(outcomes)} ICSR message(s) rejected" if rejected else None)
    if detail:
        _e(_e(ack, "acknowledgementDetail"), "text").text = detail
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


_STRUCTURAL = frozenset({"classCode", "moodCode", "typeCode", "determinerCode"})
_TEMPLATE_LISTS = frozenset({f"{L}{n}" for n in (19, 20, 21, 22, 23, 27)} | {NCIT})
_CODED = frozenset(
    f"{{{NS}}}{t}"
    for t in (
        "observation",
        "organizer",
        "causalityAssessment",
        "investigationCharacteristic",
        "observationEvent",
        "relatedInvestigation",
        "characteristic",
    )
)


def _leaves(root: etree._Element) -> Counter[tuple[str, str]]:
    """Every attribute and text under ``root`` as (path from ``root``, value), a coded element's
    step carrying its code; HL7 structural attributes and the labels of template codes are left out."""
    out: Counter[tuple[str, str]] = Counter()
    code_tag = f"{{{NS}}}code"
    stack: list[tuple[etree._Element, str, bool]] = [(root, "", False)]
    while stack:
        el, prefix, parent_coded = stack.pop()
        if not isinstance(el.tag, str):
            continue
        step = el.tag.rpartition("}")[2]
        coded = el.tag in _CODED
        if coded:
            c = el.find(code_tag)
            if c is not None and (c.get("code") or c.get("nullFlavor")):
                step += f"[{c.get('code') or c.get('nullFlavor')}]"
        path = f"{prefix}/{step}" if prefix else step
        template = el.tag == code_tag and parent_coded and el.get("codeSystem") in _TEMPLATE_LISTS
        for k, v in el.items():
            name = k.rpartition("}")[2]
            if k in _STRUCTURAL or name == "schemaLocation" or (template and k in ("displayName", "codeSystemVersion")):
                continue
            out[(f"{path}@{name}", v)] += 1
        text = el.text
        if text and not text.isspace():
            out[(f"{path}#text", text.strip())] += 1
        stack.extend((child, path, coded) for child in el)
    return out


def lost_elements(message: etree._Element, case: IcsrCase) -> list[str]:
    """The data of an E2B(R3) report (a ``PORR_IN049016UV`` element) that ``case`` does not carry:
    each attribute or text of the message missing from the message written back from the case,
    as ``path = 'value'``. Empty when the canonical case kept everything."""
    holder = etree.Element(f"{{{NS}}}holder", nsmap={None: NS, "xsi": XSI})
    _icsr(holder, case, receiver=None, sender=None, now="")
    original = _leaves(message)
    lost = original - _leaves(holder[0])
    return [f"{p} = {v!r}" for p, v in sorted(lost)]
