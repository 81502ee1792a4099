"""ICH E2B(R3) import: batch messages (MCCI_IN200100UV01 wrapping PORR_IN049016UV) and
acknowledgements (MCCI_IN200101UV01) into the canonical case model.

Every report of a batch is loaded or quarantined with a reason code and the XPath of the problem;
a bad report never stops the others, and ``read == loaded + quarantined`` is checked at the end.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from lxml import etree
from pydantic import ValidationError as PydanticValidationError

from cgtvigil.errors import ParseError, ReconciliationError
from cgtvigil.ingest._quarantine import LoadedReport, QuarantinedReport
from cgtvigil.ingest._xml import SafeIterParse, XmlLimits, load_xsd, parse_xml
from cgtvigil.model import (
    CaseDocument,
    CaseStudy,
    Characteristic,
    Code,
    DeathDetails,
    Device,
    Dosage,
    Drug,
    DrugHistory,
    DrugReactionAssessment,
    IcsrCase,
    Ingredient,
    MedicalHistory,
    Null,
    ParentInfo,
    Patient,
    Person,
    PrimarySource,
    Quantity,
    Reaction,
    Relatedness,
    SenderInfo,
    TestResult,
    Value,
)

__all__ = [
    "E2B_IMPORTER_VERSION",
    "AckMessage",
    "AckReport",
    "BatchHeader",
    "E2BBatch",
    "read_ack",
    "read_e2b",
]

E2B_IMPORTER_VERSION = "e2b-r3-import/1"
NS = "urn:hl7-org:v3"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
ICH_LIST = "2.16.840.1.113883.3.989.2.1.1."
ICH_ROOT = "2.16.840.1.113883.3.989.2.1.3."
OBS = ICH_LIST + "19"
NCIT = "2.16.840.1.113883.3.26.1.1"
FDA_LIST = "2.16.840.1.113883.3.989.5.1.2.2.1."


@lru_cache(maxsize=1024)
def _q(path: str) -> str:
    return "/".join(p if p in (".", "..") or p.startswith("{") else f"{{{NS}}}{p}" for p in path.split("/"))


class _Bad(Exception):
    """A report-level problem: reason code, XPath and message."""

    def __init__(self, reason: str, xpath: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.xpath = xpath


@dataclass(frozen=True)
class BatchHeader:
    """N.1: the batch wrapper."""

    batch_id: str | None
    sender: str | None
    receiver: str | None
    created: str | None
    message_type: str | None


@dataclass
class E2BBatch:
    """The result of reading one E2B(R3) batch file."""

    file: str
    sha256: str
    header: BatchHeader
    loaded: list[LoadedReport] = field(default_factory=list)
    quarantined: list[QuarantinedReport] = field(default_factory=list)
    read: int = 0

    @property
    def cases(self) -> list[IcsrCase]:
        return [r.case for r in self.loaded]

    def check_counts(self) -> None:
        """Raise :class:`~cgtvigil.errors.ReconciliationError` unless read = loaded + quarantined."""
        if self.read != len(self.loaded) + len(self.quarantined):
            raise ReconciliationError(
                f"read {self.read} reports but loaded {len(self.loaded)} and quarantined {len(self.quarantined)}",
                file=self.file,
            )


# ---------------------------------------------------------------- value readers


def _null(el: etree._Element | None) -> Null | None:
    nf = None if el is None else el.get("nullFlavor")
    return Null(null_flavor=nf) if nf else None


def _text(el: etree._Element | None) -> str | Null | None:
    if el is None:
        return None
    n = _null(el)
    if n is not None:
        return n
    return el.text if el.text is not None else None


def _attr_or_null(el: etree._Element | None, attr: str = "value") -> str | Null | None:
    if el is None:
        return None
    n = _null(el)
    return n if n is not None else el.get(attr)


def _flag(el: etree._Element | None) -> bool | Null | None:
    if el is None:
        return None
    n = _null(el)
    if n is not None:
        return n
    v = el.get("value")
    if v not in ("true", "false"):
        raise _Bad("INVALID_VALUE", el.getroottree().getpath(el), f"a boolean must be 'true' or 'false'; got {v!r}")
    return bool(v == "true")


def _code(el: etree._Element | None, *, with_text: bool = True) -> Code | None:
    """The coded value of ``el``; None when the element carries nothing (no attribute, no text).

    ``with_text=False`` reads the attributes only (where ``originalText`` is a field of its own:
    E.i.1.1a, F.r.2.1)."""
    if el is None:
        return None
    ot = el.find(_q("originalText")) if with_text else None
    if ot is None and not any(
        k in el.attrib for k in ("code", "codeSystem", "codeSystemVersion", "displayName", "nullFlavor")
    ):
        return None
    return Code(
        code=el.get("code"),
        system=el.get("codeSystem"),
        version=el.get("codeSystemVersion"),
        display=el.get("displayName"),
        original_text=ot.text if ot is not None else None,
        null_flavor=el.get("nullFlavor"),
    )


def _pq(el: etree._Element | None) -> Quantity | None:
    if el is None or not any(k in el.attrib for k in ("value", "unit", "nullFlavor")):
        return None
    return Quantity(value=el.get("value"), unit=el.get("unit"), null_flavor=el.get("nullFlavor"))


def _value(el: etree._Element | None) -> Value | None:
    if el is None:
        return None
    typ = el.get(XSI_TYPE) or ""
    if typ in ("CE", "CD", "CV"):
        return Value(type=typ, code=_code(el), null_flavor=el.get("nullFlavor"))
    if typ in ("ST", "ED"):
        return Value(type=typ, text=el.text, null_flavor=el.get("nullFlavor"))
    if typ == "IVL_PQ":
        low, high = el.find(_q("low")), el.find(_q("high"))

        def closed(x: etree._Element | None) -> bool | None:
            inc = x.get("inclusive") if x is not None else None
            return None if inc is None else inc == "true"

        return Value(
            type=typ,
            low=_pq(low),
            high=_pq(high),
            low_closed=closed(low),
            high_closed=closed(high),
            null_flavor=el.get("nullFlavor"),
        )
    return Value(type=typ, value=el.get("value"), unit=el.get("unit"), null_flavor=el.get("nullFlavor"))


class _Obs:
    """Index of ``observation`` children by their code, for the E2B code-discriminated elements."""

    def __init__(self, parent: etree._Element, path: str) -> None:
        self.by_code: dict[tuple[str | None, str | None], list[etree._Element]] = {}
        for obs in parent.iterfind(_q(path)):
            c = obs.find(_q("code"))
            key = (c.get("code"), c.get("codeSystem")) if c is not None else (None, None)
            self.by_code.setdefault(key, []).append(obs)

    def all(self, code: str, system: str = OBS) -> list[etree._Element]:
        return self.by_code.get((code, system), [])

    def one(self, code: str, system: str = OBS) -> etree._Element | None:
        found = self.all(code, system)
        return found[0] if found else None

    def value(self, code: str, system: str = OBS) -> etree._Element | None:
        obs = self.one(code, system)
        return obs.find(_q("value")) if obs is not None else None


def _id(el: etree._Element, root: str) -> str | None:
    for i in el.iterfind(_q("id")):
        if i.get("root") == root:
            ext = i.get("extension")
            return str(ext) if ext is not None else None
    return None


def _ts_of(el: etree._Element | None) -> str | Null | None:
    return _attr_or_null(el, "value")


def _interval(
    eff: etree._Element | None,
) -> tuple[str | Null | None, str | Null | None, Quantity | None, Quantity | None]:
    """(low, high, width, period) of an effectiveTime: IVL_TS, or SXPR_TS of IVL_TS/PIVL_TS parts."""
    low = high = None
    width = period = None
    if eff is None:
        return None, None, None, None
    parts = eff.findall(_q("comp")) if eff.get(XSI_TYPE) == "SXPR_TS" else [eff]
    for p in parts:
        if p.get(XSI_TYPE) == "PIVL_TS":
            period = _pq(p.find(_q("period")))
            continue
        low = _ts_of(p.find(_q("low"))) or low
        high = _ts_of(p.find(_q("high"))) or high
        width = _pq(p.find(_q("width"))) or width
    return low, high, width, period


# ---------------------------------------------------------------- sections


def _person(entity: etree._Element | None) -> Person:
    if entity is None:
        return Person()
    addr = entity.find(_q("addr"))
    person = entity.find(_q("assignedPerson"))
    name = person.find(_q("name")) if person is not None else None
    givens = name.findall(_q("given")) if name is not None else []
    org = entity.find(_q("representedOrganization"))
    # C.2.r.2.1 / C.3.2 organisation: the nested organisation; C.2.r.2.2 / C.3.3.1 department: the outer one
    dept = _text(org.find(_q("name"))) if org is not None else None
    org_name = _text(org.find(_q("assignedEntity/representedOrganization/name"))) if org is not None else None
    loc = person.find(_q("asLocatedEntity/location/code")) if person is not None else None

    def sub(tag: str) -> str | Null | None:
        return _text(addr.find(_q(tag))) if addr is not None else None

    return Person(
        title=_text(name.find(_q("prefix"))) if name is not None else None,
        given=_text(givens[0]) if givens else None,
        middle=_text(givens[1]) if len(givens) > 1 else None,
        family=_text(name.find(_q("family"))) if name is not None else None,
        organisation=org_name,
        department=dept,
        street=sub("streetAddressLine"),
        city=sub("city"),
        state=sub("state"),
        postcode=sub("postalCode"),
        country=_code(loc),
        telecom=tuple(t.get("value") or "" for t in entity.iterfind(_q("telecom"))),
    )


def _history_items(
    organizer: etree._Element | None,
) -> tuple[tuple[MedicalHistory, ...], str | Null | None, bool | Null | None]:
    if organizer is None:
        return (), None, None
    items: list[MedicalHistory] = []
    text: str | Null | None = None
    concomitant: bool | Null | None = None
    for obs in organizer.iterfind(_q("component/observation")):
        c = obs.find(_q("code"))
        # D.7.2 text and D.7.3 concomitant therapies have their ICH codes; anything else is a D.7.1.r item
        if not (c is not None and c.get("codeSystem") == OBS and c.get("code") in ("18", "11")):
            eff = obs.find(_q("effectiveTime"))
            sub = _Obs(obs, "inboundRelationship/observation")
            sub2 = _Obs(obs, "outboundRelationship2/observation")
            items.append(
                MedicalHistory(
                    condition=_code(c) if c is not None else None,
                    start=_ts_of(eff.find(_q("low"))) if eff is not None else None,
                    end=_ts_of(eff.find(_q("high"))) if eff is not None else None,
                    continuing=_flag(sub.value("13") if sub.value("13") is not None else sub2.value("13")),
                    comments=_text(sub.value("10") if sub.value("10") is not None else sub2.value("10")),
                    family_history=_flag(sub.value("38") if sub.value("38") is not None else sub2.value("38")),
                )
            )
        elif c is not None and c.get("code") == "18":
            text = _text(obs.find(_q("value")))
        elif c is not None and c.get("code") == "11":
            concomitant = _flag(obs.find(_q("value")))
    return tuple(items), text, concomitant


def _drug_history(organizer: etree._Element | None) -> tuple[DrugHistory, ...]:
    if organizer is None:
        return ()
    out = []
    for sa in organizer.iterfind(_q("component/substanceAdministration")):
        kind = sa.find(_q("consumable/instanceOfKind/kindOfProduct"))
        eff = sa.find(_q("effectiveTime"))
        rel = _Obs(sa, "outboundRelationship2/observation")
        out.append(
            DrugHistory(
                name=_text(kind.find(_q("name"))) if kind is not None else None,
                product_code=_code(kind.find(_q("code"))) if kind is not None else None,
                start=_ts_of(eff.find(_q("low"))) if eff is not None else None,
                end=_ts_of(eff.find(_q("high"))) if eff is not None else None,
                indication=_code(rel.value("19")),
                reaction=_code(rel.value("29")),
            )
        )
    return tuple(out)


def _organizers(role: etree._Element) -> dict[str, etree._Element]:
    out: dict[str, etree._Element] = {}
    for org in role.iterfind(_q("subjectOf2/organizer")):
        c = org.find(_q("code"))
        if c is not None and c.get("code"):
            out.setdefault(c.get("code") or "", org)
    return out


def _patient(role: etree._Element) -> Patient:
    player = role.find(_q("player1"))
    obs = _Obs(role, "subjectOf2/observation")
    orgs = _organizers(role)
    history, history_text, concomitant = _history_items(orgs.get("1"))
    death = None
    deceased = player.find(_q("deceasedTime")) if player is not None else None
    causes = obs.all("32")
    autopsy = obs.one("5")
    if deceased is not None or causes or autopsy is not None:
        death = DeathDetails(
            date=_ts_of(deceased),
            reported_causes=tuple(c for c in (_code(o.find(_q("value"))) for o in causes) if c is not None),
            autopsy=_flag(autopsy.find(_q("value"))) if autopsy is not None else None,
            autopsy_causes=tuple(
                c
                for c in (
                    _code(o.find(_q("value")))
                    for o in (autopsy.iterfind(_q("outboundRelationship2/observation")) if autopsy is not None else [])
                )
                if c is not None
            ),
        )
    parent = None
    prole = player.find(_q("role")) if player is not None else None
    if prole is not None:
        person = prole.find(_q("associatedPerson"))
        pobs = _Obs(prole, "subjectOf2/observation")
        porgs = _organizers(prole)
        phist, ptext, _ = _history_items(porgs.get("1"))
        parent = ParentInfo(
            name=_text(person.find(_q("name"))) if person is not None else None,
            birth_date=_ts_of(person.find(_q("birthTime"))) if person is not None else None,
            sex=_code(person.find(_q("administrativeGenderCode"))) if person is not None else None,
            age=_pq(pobs.value("3")),
            last_menstrual_period=_ts_of(pobs.value("22")),
            weight=_pq(pobs.value("7")),
            height=_pq(pobs.value("17")),
            medical_history=phist,
            history_text=ptext,
            drug_history=_drug_history(porgs.get("2")),
        )
    return Patient(
        name=_text(player.find(_q("name"))) if player is not None else None,
        sex=_code(player.find(_q("administrativeGenderCode"))) if player is not None else None,
        birth_date=_ts_of(player.find(_q("birthTime"))) if player is not None else None,
        age=_pq(obs.value("3")),
        gestation=_pq(obs.value("16")),
        age_group=_code(obs.value("4")),
        weight=_pq(obs.value("7")),
        height=_pq(obs.value("17")),
        last_menstrual_period=_ts_of(obs.value("22")),
        medical_history=history,
        history_text=history_text,
        concomitant_therapies=concomitant,
        drug_history=_drug_history(orgs.get("2")),
        death=death,
        parent=parent,
        race=tuple(c for c in (_code(o.find(_q("value"))) for o in obs.all("C17049", NCIT)) if c is not None),
        ethnicity=_code(obs.value("C16564", NCIT)),
    )


_SERIOUS = {
    "34": "death",
    "21": "life_threatening",
    "33": "hospitalisation",
    "35": "disabling",
    "12": "congenital_anomaly",
    "26": "medically_important",
}


def _reactions(role: etree._Element) -> tuple[Reaction, ...]:
    out = []
    for obs in role.iterfind(_q("subjectOf2/observation")):
        c = obs.find(_q("code"))
        if c is None or c.get("code") != "29" or c.get("codeSystem") != OBS:
            continue
        rid = obs.find(_q("id"))
        value = obs.find(_q("value"))
        ot = value.find(_q("originalText")) if value is not None else None
        start, end, duration, _ = _interval(obs.find(_q("effectiveTime")))
        rel = _Obs(obs, "outboundRelationship2/observation")
        flags = {name: _flag(rel.value(code)) for code, name in _SERIOUS.items()}
        loc = obs.find(_q("location/locatedEntity/locatedPlace/code"))
        out.append(
            Reaction(
                id=rid.get("root") if rid is not None else None,
                as_reported=_text(ot),
                as_reported_language=ot.get("language") if ot is not None else None,
                translation=_text(rel.value("30")),
                meddra=_code(value, with_text=False),
                highlighted=_code(rel.value("37")),
                required_intervention=_flag(rel.value("7", FDA_LIST + "3")),
                start=start,
                end=end,
                duration=duration,
                outcome=_code(rel.value("27")),
                medically_confirmed=_flag(rel.value("24")),
                country=_code(loc),
                **flags,
            )
        )
    return tuple(out)


def _tests(role: etree._Element) -> tuple[TestResult, ...]:
    org = _organizers(role).get("3")
    if org is None:
        return ()
    out = []
    for obs in org.iterfind(_q("component/observation")):
        c = obs.find(_q("code"))
        value = obs.find(_q("value"))
        rel = _Obs(obs, "outboundRelationship2/observation")
        ranges = {
            (r.find(_q("interpretationCode")).get("code") if r.find(_q("interpretationCode")) is not None else ""): r
            for r in obs.iterfind(_q("referenceRange/observationRange"))
        }
        typ = value.get(XSI_TYPE) if value is not None else None
        name = c.find(_q("originalText")) if c is not None else None
        out.append(
            TestResult(
                date=_ts_of(obs.find(_q("effectiveTime"))),
                name=_text(name),
                meddra=_code(c, with_text=False),
                result_code=_code(obs.find(_q("interpretationCode"))),
                result=_value(value) if typ not in (None, "ED") else None,
                result_text=_text(value) if typ == "ED" else None,
                normal_low=_pq(ranges["L"].find(_q("value"))) if "L" in ranges else None,
                normal_high=_pq(ranges["H"].find(_q("value"))) if "H" in ranges else None,
                comments=_text(rel.value("10")),
                more_information=_flag(rel.value("25")),
            )
        )
    return tuple(out)


def _dosage(sa: etree._Element) -> Dosage:
    eff = sa.find(_q("effectiveTime"))
    time_nf = eff.get("nullFlavor") if eff is not None else None
    start, end, duration, period = _interval(eff)
    kind = sa.find(_q("consumable/instanceOfKind/kindOfProduct"))
    lot = sa.find(_q("consumable/instanceOfKind/productInstanceInstance/lotNumberText"))
    country = sa.find(_q("performer/assignedEntity/representedOrganization/addr/country"))
    rel = _Obs(sa, "inboundRelationship/observation")
    return Dosage(
        dose=_pq(sa.find(_q("doseQuantity"))),
        period=period,
        start=start,
        end=end,
        duration=duration,
        time_null_flavor=time_nf,
        lot_number=_text(lot),
        text=_text(sa.find(_q("text"))),
        dose_form=_code(kind.find(_q("formCode"))) if kind is not None else None,
        route=_code(sa.find(_q("routeCode"))),
        parent_route=_code(rel.value("28")),
        country_obtained=country.text if country is not None else None,
    )


def _device(part: etree._Element) -> Device:
    prod = part.find(_q("partProduct"))
    if prod is None:
        return Device()
    manu = prod.find(_q("asManufacturedProduct/manufacturerOrganization"))
    manufacturer = None
    if manu is not None:
        addr = manu.find(_q("addr"))

        def sub(tag: str) -> str | Null | None:
            return _text(addr.find(_q(tag))) if addr is not None else None

        country = addr.find(_q("country")) if addr is not None else None
        manufacturer = Person(
            organisation=_text(manu.find(_q("name"))),
            street=sub("streetAddressLine"),
            city=sub("city"),
            state=sub("state"),
            country=Code(code=country.text) if country is not None else None,
        )
    chars = []
    for ch in prod.iterfind(_q("asManufacturedProduct/subjectOf/characteristic")):
        c = _code(ch.find(_q("code")))
        if c is not None:
            chars.append(Characteristic(code=c, value=_value(ch.find(_q("value")))))
    return Device(
        code=_code(prod.find(_q("code"))),
        names=tuple(n.text or "" for n in prod.iterfind(_q("name"))),
        manufacturer=manufacturer,
        characteristics=tuple(chars),
        lot_number=_text(prod.find(_q("instanceOfKind/productInstanceInstance/lotNumberText"))),
    )


def _drugs(
    role: etree._Element, aea: etree._Element
) -> tuple[tuple[Drug, ...], tuple[tuple[str, Code], ...], tuple[tuple[str, str, Relatedness], ...]]:
    """The drugs with their roles and assessments (by drug id; drugs sharing an id share them), and
    the roles and relatedness assessments that name no drug of the report (kept, C6)."""
    org = _organizers(role).get("4")
    roles: dict[str, Code | None] = {}
    other_roles: dict[str, Code | None] = {}
    relatedness: dict[tuple[str, str], list[Relatedness]] = {}
    for ca in aea.iterfind(_q("component/causalityAssessment")):
        c = ca.find(_q("code"))
        drug_ref = ca.find(_q("subject2/productUseReference/id"))
        drug_id = drug_ref.get("root") if drug_ref is not None else None
        if c is None or drug_id is None:
            raise _Bad("ORPHAN_ASSESSMENT", ca.getroottree().getpath(ca), "a causality assessment names no drug")
        if c.get("code") == "20":
            value = ca.find(_q("value"))
            target = roles if value is None or value.get("codeSystem") in (None, ICH_LIST + "13") else other_roles
            target.setdefault(drug_id, _code(value))
        elif c.get("code") == "39":
            reac_ref = ca.find(_q("subject1/adverseEffectReference/id"))
            reac_id = (reac_ref.get("root") if reac_ref is not None else None) or ""
            method = ca.find(_q("methodCode/originalText"))
            source = ca.find(_q("author/assignedEntity/code/originalText"))
            relatedness.setdefault((drug_id, reac_id), []).append(
                Relatedness(source=_text(source), method=_text(method), result=_text(ca.find(_q("value"))))
            )
        else:
            raise _Bad(
                "UNKNOWN_ELEMENT",
                ca.getroottree().getpath(ca),
                f"a causality assessment with code {c.get('code')!r} (known: 20 drug role, 39 relatedness)",
            )
    out = []
    for sa in org.iterfind(_q("component/substanceAdministration")) if org is not None else []:
        did_el = sa.find(_q("id"))
        did = did_el.get("root") if did_el is not None else None
        kind = sa.find(_q("consumable/instanceOfKind/kindOfProduct"))
        inst = sa.find(_q("consumable/instanceOfKind"))
        approval = kind.find(_q("asManufacturedProduct/subjectOf/approval")) if kind is not None else None
        ingredients = []
        for ing in kind.iterfind(_q("ingredient")) if kind is not None else []:
            sub = ing.find(_q("ingredientSubstance"))
            ingredients.append(
                Ingredient(
                    name=_text(sub.find(_q("name"))) if sub is not None else None,
                    code=_code(sub.find(_q("code"))) if sub is not None else None,
                    strength=_pq(ing.find(_q("quantity/numerator"))),
                    strength_per=_pq(ing.find(_q("quantity/denominator"))),
                )
            )
        event = inst.find(_q("subjectOf/productEvent")) if inst is not None else None
        country = (
            event.find(_q("performer/assignedEntity/representedOrganization/addr/country"))
            if event is not None
            else None
        )
        obs = _Obs(sa, "outboundRelationship2/observation")
        dosages = tuple(_dosage(d) for d in sa.iterfind(_q("outboundRelationship2/substanceAdministration")))
        indications = tuple(
            c
            for c in (_code(o.find(_q("value"))) for o in _Obs(sa, "inboundRelationship/observation").all("19"))
            if c is not None
        )
        action = sa.find(_q("inboundRelationship/act/code"))
        # the drug-reaction matrix: intervals and recurrence sit in the drug, relatedness in the assessment
        per_reaction: dict[str, dict[str, object]] = {}
        for rel in sa.iterfind(_q("outboundRelationship1")):
            ref = rel.find(_q("actReference/id"))
            rid = (ref.get("root") if ref is not None else None) or ""
            key = "start_interval" if rel.get("typeCode") == "SAS" else "last_dose_interval"
            per_reaction.setdefault(rid, {})[key] = _pq(rel.find(_q("pauseQuantity")))
        for o in obs.all("31"):
            ref = o.find(_q("outboundRelationship1/actReference/id"))
            rid = (ref.get("root") if ref is not None else None) or ""
            per_reaction.setdefault(rid, {})["recurrence"] = _code(o.find(_q("value")))
        for (d, rid), rels in relatedness.items():
            if d == did:
                per_reaction.setdefault(rid, {})["relatedness"] = tuple(rels)
        assessments = tuple(DrugReactionAssessment(reaction_id=rid, **vals) for rid, vals in per_reaction.items())
        cat = None
        for ch in kind.iterfind(_q("asSpecializedKind/generalizedMaterialKind/code")) if kind is not None else []:
            cat = _code(ch)
        other_role = other_roles.get(did or "")
        out.append(
            Drug(
                id=did,
                role=roles.get(did or ""),
                name=_text(kind.find(_q("name"))) if kind is not None else None,
                product_code=_code(kind.find(_q("code"))) if kind is not None else None,
                ingredients=tuple(ingredients),
                country_obtained=country.text if country is not None else None,
                supply=_code(event.find(_q("code"))) if event is not None else None,
                blinded=_flag(obs.value("6")),
                authorisation_number=_attr_or_null(approval.find(_q("id")), "extension")
                if approval is not None and approval.find(_q("id")) is not None
                else None,
                authorisation_country=_code(approval.find(_q("author/territorialAuthority/territory/code")))
                if approval is not None
                else None,
                holder=_text(approval.find(_q("holder/role/playingOrganization/name")))
                if approval is not None
                else None,
                dosages=dosages,
                cumulative_dose=_pq(obs.value("14")),
                gestation_at_exposure=_pq(obs.value("16")),
                indications=indications,
                action_taken=_code(action),
                assessments=assessments,
                additional_info=tuple(c for c in (_code(o.find(_q("value"))) for o in obs.all("9")) if c is not None),
                additional_info_text=_text(obs.value("2")),
                fda_other_role=other_role,
                fda_product_category=cat,
                devices=tuple(_device(p) for p in (kind.iterfind(_q("part")) if kind is not None else [])),
            )
        )
    ids = {d.id for d in out}
    orphans = tuple(
        (i, c) for found in (roles, other_roles) for i, c in found.items() if i not in ids and c is not None
    )
    orphan_rel = tuple((d, r, x) for (d, r), xs in relatedness.items() if d not in ids for x in xs)
    return tuple(out), orphans, orphan_rel


def _documents(ie: etree._Element) -> tuple[CaseDocument, ...]:
    out = []
    for doc in ie.iterfind(_q("reference/document")):
        c = doc.find(_q("code"))
        kind = "literature" if c is not None and c.get("code") == "2" else "document"
        text = doc.find(_q("text"))
        ref = text.find(_q("reference")) if text is not None else None
        title = doc.find(_q("bibliographicDesignationText")) if kind == "literature" else doc.find(_q("title"))
        out.append(
            CaseDocument(
                kind=kind,
                title=_text(title),
                media_type=text.get("mediaType") if text is not None else None,
                representation=text.get("representation") if text is not None else None,
                content=(text.text.strip() or None) if text is not None and text.text else None,
                reference=ref.get("value") if ref is not None else None,
                code=_code(c),
            )
        )
    return tuple(out)


def _study(role: etree._Element) -> CaseStudy | None:
    rs = role.find(_q("subjectOf1/researchStudy"))
    if rs is None:
        return None
    regs: list[tuple[str, Code | None]] = []
    ind: list[str] = []
    anda: list[str] = []
    cross: list[str] = []
    for reg in rs.iterfind(_q("authorization/studyRegistration")):
        i = reg.find(_q("id"))
        root, ext = (i.get("root"), i.get("extension") or "") if i is not None else (None, "")
        if root == FDA_LIST + "2.1":
            ind.append(ext)
        elif root == FDA_LIST + "2.2":
            anda.append(ext)
        elif root == FDA_LIST + "2.3":
            cross.append(ext)
        else:
            regs.append((ext, _code(reg.find(_q("author/territorialAuthority/governingPlace/code")))))
    sponsor = rs.find(_q("id"))
    return CaseStudy(
        registrations=tuple(regs),
        name=_text(rs.find(_q("title"))),
        sponsor_study_number=_attr_or_null(sponsor, "extension") if sponsor is not None else None,
        study_type=_code(rs.find(_q("code"))),
        fda_ind=tuple(ind),
        fda_pre_anda=tuple(anda),
        fda_cross_reported_ind=tuple(cross),
    )


def _case(msg: etree._Element) -> IcsrCase:
    tree = msg.getroottree()
    ie = msg.find(_q("controlActProcess/subject/investigationEvent"))
    if ie is None:
        raise _Bad(
            "MISSING_ELEMENT", tree.getpath(msg) + "/controlActProcess", "no subject/investigationEvent (the ICSR)"
        )
    report_id = _id(ie, ICH_ROOT + "1")
    if not report_id:
        raise _Bad("MISSING_ELEMENT", tree.getpath(ie) + "/id", "C.1.1 (id root ...2.1.3.1) is missing")
    aea = ie.find(_q("component/adverseEventAssessment"))
    role = aea.find(_q("subject1/primaryRole")) if aea is not None else None
    if aea is None or role is None:
        raise _Bad(
            "MISSING_ELEMENT", tree.getpath(ie) + "/component", "no adverseEventAssessment/subject1/primaryRole (D)"
        )
    chars = _Obs(ie, "subjectOf2/investigationCharacteristic")
    events = _Obs(ie, "component/observationEvent")
    comments = {}
    diagnoses = []
    for oe in aea.iterfind(_q("component1/observationEvent")):
        c = oe.find(_q("code"))
        author = oe.find(_q("author/assignedEntity/code"))
        who = author.get("code") if author is not None else None
        if c is not None and c.get("code") == "10":
            comments[who] = _text(oe.find(_q("value")))
        elif c is not None and c.get("code") == "15":
            d = _code(oe.find(_q("value")))
            if d is not None:
                diagnoses.append(d)
    summaries = []
    for oe in events.all("36"):
        v = oe.find(_q("value"))
        if v is not None:
            summaries.append((v.text or "", v.get("language")))
    sources: list[PrimarySource] = []
    first_sender = None
    linked = []
    for ob in ie.iterfind(_q("outboundRelationship")):
        ri = ob.find(_q("relatedInvestigation"))
        if ri is None:
            continue
        c = ri.find(_q("code"))
        kind = c.get("code") if c is not None else None
        entity = ri.find(_q("subjectOf2/controlActEvent/author/assignedEntity"))
        if kind == "1":
            first_sender = _code(entity.find(_q("code"))) if entity is not None else None
        elif kind == "2":
            person = _person(entity)
            qual = entity.find(_q("assignedPerson/asQualifiedEntity/code")) if entity is not None else None
            prio = ob.find(_q("priorityNumber"))
            sources.append(
                PrimarySource(
                    person=person,
                    qualification=_code(qual),
                    regulatory=prio is not None and prio.get("value") == "1",
                )
            )
        elif c is not None and c.get("nullFlavor"):
            lid = ri.find(_q("subjectOf2/controlActEvent/id"))
            if lid is not None and lid.get("extension"):
                linked.append(lid.get("extension") or "")
    other_ids = []
    sender = None
    for s1 in ie.iterfind(_q("subjectOf1/controlActEvent")):
        i = s1.find(_q("id"))
        if i is not None:
            other_ids.append((i.get("assigningAuthorityName"), i.get("extension") or ""))
            continue
        entity = s1.find(_q("author/assignedEntity"))
        if entity is not None:
            sender = SenderInfo(type=_code(entity.find(_q("code"))), person=_person(entity))
    nullification_reason = chars.value("4", ICH_LIST + "23")
    reason_text = nullification_reason.find(_q("originalText")) if nullification_reason is not None else None
    receiver = msg.find(_q("receiver/device/id"))
    msender = msg.find(_q("sender/device/id"))
    drugs, orphan_roles, orphan_relatedness = _drugs(role, aea)
    return IcsrCase(
        message_id=_id(msg, ICH_ROOT + "1"),
        message_sender=msender.get("extension") if msender is not None else None,
        message_receiver=receiver.get("extension") if receiver is not None else None,
        message_created=_ts_of(msg.find(_q("creationTime"))),
        safety_report_id=report_id,
        created=_ts_of(msg.find(_q("controlActProcess/effectiveTime"))),
        report_type=_code(chars.value("1", ICH_LIST + "23")),
        first_received=_ts_of(ie.find(_q("effectiveTime/low"))),
        most_recent=_ts_of(ie.find(_q("availabilityTime"))),
        additional_documents=_flag(events.value("1")),
        documents=_documents(ie),
        expedited=_flag(events.value("23")),
        worldwide_id=_id(ie, ICH_ROOT + "2"),
        first_sender=first_sender,
        other_ids_exist=_flag(chars.value("2", ICH_LIST + "23")),
        other_ids=tuple(other_ids),
        linked_reports=tuple(linked),
        nullification=_code(chars.value("3", ICH_LIST + "23")),
        nullification_reason=_text(reason_text) if reason_text is not None else _text(nullification_reason),
        fda_local_criteria=_code(events.value("C54588", NCIT)),
        fda_combination_product=_flag(events.value("C156384", NCIT)),
        primary_sources=tuple(sources),
        sender=sender,
        study=_study(role),
        patient=_patient(role),
        reactions=_reactions(role),
        tests=_tests(role),
        drugs=drugs,
        orphan_roles=orphan_roles,
        orphan_relatedness=orphan_relatedness,
        narrative=_text(ie.find(_q("text"))),
        reporter_comments=comments.get("3"),
        sender_diagnoses=tuple(diagnoses),
        sender_comments=comments.get("1"),
        summaries=tuple(summaries),
    )


def _reference_warnings(case: IcsrCase) -> list[str]:
    """C6 for E2B, checked after parsing: references that resolve to nothing are kept and flagged."""
    out = []
    reactions = {r.id for r in case.reactions}
    seen: dict[str, int] = {}
    for d in case.drugs:
        if d.id is not None:
            seen[d.id] = seen.get(d.id, 0) + 1
        for a in d.assessments:
            if a.reaction_id not in reactions:
                out.append(
                    f"ORPHAN_CHILD: drug {d.name!r} assesses reaction id {a.reaction_id!r}, "
                    "not a reaction of the report"
                )
    for drug_id, n in seen.items():
        if n > 1:
            out.append(f"DUPLICATE_ID: {n} drugs share the id {drug_id!r}; their role and assessments are shared")
    for drug_id, c in case.orphan_roles:
        out.append(f"ORPHAN_CHILD: a G.k.1 role ({c.code}) refers to drug id {drug_id!r}, not a drug of the report")
    for drug_id, _, _ in case.orphan_relatedness:
        out.append(f"ORPHAN_CHILD: a relatedness assessment refers to drug id {drug_id!r}, not a drug of the report")
    return out


def _pydantic_problem(exc: PydanticValidationError) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(x) for x in first["loc"] if not str(x).startswith("function-"))
    return f"{loc}: {first['msg']} (got {first.get('input')!r})" + (
        f" and {exc.error_count() - 1} more" if exc.error_count() > 1 else ""
    )


def read_e2b(
    source: Path | bytes,
    *,
    name: str | None = None,
    limits: XmlLimits | None = None,
    schema_dir: Path | None = None,
    inspect: Callable[[etree._Element, IcsrCase], Sequence[str]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> E2BBatch:
    """Read one E2B(R3) batch file (or its bytes) into canonical cases.

    A file that is not safe, well-formed XML, or not an ``MCCI_IN200100UV01`` batch, raises one
    :class:`~cgtvigil.errors.ParseError`. Inside a batch, each ``PORR_IN049016UV`` report is
    loaded or quarantined (reason ``MISSING_ELEMENT``, ``INVALID_VALUE``, ``ORPHAN_ASSESSMENT``)
    with the XPath of its problem; the other reports still load. References that resolve to
    nothing are kept and listed in the report's ``warnings`` (``ORPHAN_CHILD``, ``DUPLICATE_ID``).

    ``inspect(message, case)`` is called for each loaded report while its XML is still in
    memory; what it returns is added to the report's warnings (the CLI passes
    ``reports.lost_elements`` to list data the canonical case does not carry).

    With ``schema_dir`` (the ICH schema folder, holding ``multicacheschemas/``), each report is
    first validated on its own against ``PORR_IN049016UV.xsd`` and quarantined as
    ``XSD_INVALID`` with the XPath of the first problem.
    """
    xsd = None
    if schema_dir is not None:
        xsd_path = Path(schema_dir) / "multicacheschemas" / "PORR_IN049016UV.xsd"
        if not xsd_path.is_file():
            raise ParseError(f"not the ICH E2B(R3) schema folder (no {xsd_path.name})", file=str(schema_dir))
        xsd = load_xsd(str(xsd_path))
    if isinstance(source, Path):
        file = name or str(source)
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise ParseError(f"cannot read: {exc.strerror or exc}", file=file) from None
    else:
        file, data = name or "<bytes>", source
    batch = E2BBatch(
        file=file, sha256=hashlib.sha256(data).hexdigest(), header=BatchHeader(None, None, None, None, None)
    )
    stream = SafeIterParse(data, file=file, tag=f"{{{NS}}}PORR_IN049016UV", limits=limits)
    position = 0
    for msg in stream:
        position += 1
        batch.read += 1
        xpath = msg.getroottree().getpath(msg)
        parent = msg.getparent()
        if parent is None or parent.getparent() is not None:
            batch.quarantined.append(
                _quarantine(file, msg, xpath, "MISPLACED_MESSAGE", "a PORR_IN049016UV that is not a child of the batch")
            )
            continue
        problem = _xsd_problem(xsd, msg, xpath) if xsd is not None else None
        if problem is not None:
            batch.quarantined.append(_quarantine(file, msg, problem[0], "XSD_INVALID", problem[1]))
            continue
        try:
            case = _case(msg)
        except _Bad as bad:
            batch.quarantined.append(_quarantine(file, msg, bad.xpath, bad.reason, str(bad)))
        except PydanticValidationError as exc:
            batch.quarantined.append(_quarantine(file, msg, xpath, "INVALID_VALUE", _pydantic_problem(exc)))
        else:
            warnings = _reference_warnings(case)
            if inspect is not None:
                warnings += [f"NOT_KEPT: {w}" for w in inspect(msg, case)]
            batch.loaded.append(
                LoadedReport(
                    case=case,
                    file=file,
                    sha256=batch.sha256,
                    xpath=xpath,
                    importer=E2B_IMPORTER_VERSION,
                    warnings=tuple(warnings),
                )
            )
        if progress is not None:
            progress(position, 0)
    root = stream.root
    if root is None or root.tag != f"{{{NS}}}MCCI_IN200100UV01":
        name = etree.QName(root).localname if root is not None else "(none)"
        raise ParseError(
            f"E2B_NOT_A_BATCH: the root element is {name!r}, not an ICH ICSR batch "
            "'MCCI_IN200100UV01' in the HL7 v3 namespace",
            file=file,
            line=root.sourceline if root is not None else None,
        )
    name_el = root.find(_q("name"))
    bs = root.find(_q("sender/device/id"))
    br = root.find(_q("receiver/device/id"))
    ct = root.find(_q("creationTime"))
    batch.header = BatchHeader(
        batch_id=_id(root, ICH_ROOT + "22"),
        sender=bs.get("extension") if bs is not None else None,
        receiver=br.get("extension") if br is not None else None,
        created=ct.get("value") if ct is not None else None,
        message_type=name_el.get("code") if name_el is not None else None,
    )
    batch.check_counts()
    return batch


def _xsd_problem(xsd: etree.XMLSchema, msg: etree._Element, xpath: str) -> tuple[str, str] | None:
    """(XPath, message) of the first schema problems of one report, validated on its own."""
    alone = copy.deepcopy(msg)
    alone.set("ITSVersion", alone.get("ITSVersion") or "XML_1.0")  # required on a message outside its batch
    if xsd.validate(alone):
        return None
    errors = list(xsd.error_log)
    where = xpath + (errors[0].path[2:] if errors[0].path and errors[0].path.startswith("/*") else "")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return where, errors[0].message + more


def _quarantine(file: str, msg: etree._Element, xpath: str, reason: str, detail: str) -> QuarantinedReport:
    ie = msg.find(_q("controlActProcess/subject/investigationEvent"))
    return QuarantinedReport(
        file=file,
        xpath=xpath,
        reason=reason,
        detail=detail,
        message_id=_id(msg, ICH_ROOT + "1"),
        safety_report_id=_id(ie, ICH_ROOT + "1") if ie is not None else None,
        raw=etree.tostring(msg, encoding="unicode"),
    )


# ---------------------------------------------------------------- acknowledgements


@dataclass(frozen=True)
class AckReport:
    """One report's acknowledgement (ACK.B.r): the report acknowledged (its C.1.1), the ack's local
    message number and the code CA (accepted) or CR (rejected), with the receiver's detail."""

    safety_report_id: str | None
    message_id: str | None
    code: str
    detail: str | None


@dataclass(frozen=True)
class AckMessage:
    """A batch acknowledgement (MCCI_IN200101UV01): AA accepted, AE accepted with errors, AR rejected."""

    ack_id: str | None
    batch_id: str | None
    code: str
    detail: str | None
    sender: str | None
    receiver: str | None
    created: str | None
    reports: tuple[AckReport, ...]


def read_ack(source: Path | bytes, *, name: str | None = None, limits: XmlLimits | None = None) -> AckMessage:
    """Read an E2B(R3) acknowledgement message (MCCI_IN200101UV01)."""
    if isinstance(source, Path):
        file = name or str(source)
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise ParseError(f"cannot read: {exc.strerror or exc}", file=file) from None
    else:
        file, data = name or "<bytes>", source
    root = parse_xml(data, file=file, limits=limits).getroot()
    if root.tag != f"{{{NS}}}MCCI_IN200101UV01":
        raise ParseError(
            f"E2B_NOT_AN_ACK: the root element is {etree.QName(root).localname!r}, not 'MCCI_IN200101UV01'",
            file=file,
        )
    batch_ack = root.find(_q("acknowledgement"))
    reports = []
    for msg in root.iterfind(_q("MCCI_IN000002UV01")):
        ack = msg.find(_q("acknowledgement"))
        target = ack.find(_q("targetMessage/id")) if ack is not None else None
        reports.append(
            AckReport(
                safety_report_id=target.get("extension") if target is not None else None,
                message_id=_id(msg, ICH_ROOT + "19"),
                code=(ack.get("typeCode") or "") if ack is not None else "",
                detail=_ack_detail(ack),
            )
        )
    sender = root.find(_q("sender/device/id"))
    receiver = root.find(_q("receiver/device/id"))
    ct = root.find(_q("creationTime"))
    target = batch_ack.find(_q("targetBatch/id")) if batch_ack is not None else None
    return AckMessage(
        ack_id=_id(root, ICH_ROOT + "20") or _id(root, ICH_ROOT + "15"),
        batch_id=target.get("extension") if target is not None else None,
        code=(batch_ack.get("typeCode") or "") if batch_ack is not None else "",
        detail=_ack_detail(batch_ack),
        sender=sender.get("extension") if sender is not None else None,
        receiver=receiver.get("extension") if receiver is not None else None,
        created=ct.get("value") if ct is not None else None,
        reports=tuple(reports),
    )


def _ack_detail(ack: etree._Element | None) -> str | None:
    if ack is None:
        return None
    texts = [d.text for d in ack.iterfind(_q("acknowledgementDetail/text")) if d.text]
    return "\n".join(texts) or None
