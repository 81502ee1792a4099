"""The canonical individual case safety report (ICSR), shared by every case source.

The structure follows the ICH E2B(R3) sections (C identification, D patient, E reactions, F tests,
G drugs, H narrative) because that is the richest ICSR format; FAERS, openFDA and FHIR map into
the subset they carry. Values keep their source form (C2): dates are the raw HL7 timestamp
(``"20141010"``, precision is the number of digits, see :func:`timestamp_precision`), codes keep
their code system and version, and a missing value given with a reason is a :class:`Null`
(``nullFlavor`` ``NI``, ``UNK``, ``MSK``, ``ASKU``, ...), never a blank. ``None`` means absent.

Each model is frozen and round-trips through JSON (``model_dump_json`` / ``model_validate_json``).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "NULL_FLAVORS",
    "CaseDocument",
    "CaseHistory",
    "CaseStudy",
    "CaseVersion",
    "Characteristic",
    "Code",
    "DeathDetails",
    "Device",
    "Dosage",
    "DrugHistory",
    "DrugReactionAssessment",
    "IcsrCase",
    "Ingredient",
    "MedicalHistory",
    "Null",
    "ParentInfo",
    "Patient",
    "Person",
    "PrimarySource",
    "Quantity",
    "Reaction",
    "Relatedness",
    "SenderInfo",
    "TestResult",
    "Value",
    "timestamp_precision",
]

NULL_FLAVORS = frozenset(
    {
        "NI",
        "INV",
        "OTH",
        "PINF",
        "NINF",
        "UNC",
        "DER",
        "UNK",
        "ASKU",
        "NAV",
        "NASK",
        "QS",
        "NAVU",
        "TRC",
        "MSK",
        "NA",
        "NP",
    }
)
_TS = re.compile(r"^\d{4}(\d{2}){0,5}(\.\d{1,4})?([+-]\d{4})?$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Null(_Frozen):
    """A value withheld or unknown, with the HL7 reason (``nullFlavor``) kept."""

    null_flavor: str

    @field_validator("null_flavor")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in NULL_FLAVORS:
            raise ValueError(f"must be an HL7 nullFlavor ({', '.join(sorted(NULL_FLAVORS))}); got {v!r}")
        return v


Text = str | Null
Flag = bool | Null


def _check_ts(v: str) -> str:
    if not _TS.match(v):
        raise ValueError(f"must be an HL7 timestamp CCYY[MM[DD[hh[mm[ss]]]]][+/-ZZzz]; got {v!r}")
    return v


Timestamp = Annotated[str, AfterValidator(_check_ts)] | Null


def timestamp_precision(ts: str) -> str:
    """The precision of an HL7 timestamp: ``year``, ``month``, ``day``, ``hour``, ``minute`` or ``second``.

    Examples
    --------
    >>> timestamp_precision("200906")
    'month'
    >>> timestamp_precision("20220614101010-0500")
    'second'
    """
    digits = len(re.split(r"[.+-]", ts, maxsplit=1)[0])
    return {4: "year", 6: "month", 8: "day", 10: "hour", 12: "minute"}.get(digits, "second")


class Code(_Frozen):
    """A coded value (HL7 CE/CD): code, code system OID and version, display name, original text.

    At least one of them is given (an absent code is ``None``, not an empty ``Code``)."""

    code: str | None = None
    system: str | None = None
    version: str | None = None
    display: str | None = None
    original_text: str | None = None
    null_flavor: str | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Code:
        if all(
            v is None
            for v in (self.code, self.system, self.version, self.display, self.original_text, self.null_flavor)
        ):
            raise ValueError("a Code needs a code, code system, version, display name, original text or nullFlavor")
        return self


class Quantity(_Frozen):
    """A physical quantity (HL7 PQ); ``value`` is the decimal as written, ``unit`` UCUM.

    At least one of them is given (an absent quantity is ``None``)."""

    value: str | None = None
    unit: str | None = None
    null_flavor: str | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Quantity:
        if self.value is None and self.unit is None and self.null_flavor is None:
            raise ValueError("a Quantity needs a value, a unit or a nullFlavor")
        return self


class Value(_Frozen):
    """Any HL7 observation value, by its ``xsi:type`` (BL, CE, PQ, ST, ED, TS, INT, IVL_PQ).

    ``value``/``unit`` for BL, PQ, TS, INT; ``code`` for CE; ``text`` for ST, ED; ``low`` and
    ``high`` (with ``low_closed``/``high_closed``, HL7 ``inclusive``) for IVL_PQ."""

    type: str
    value: str | None = None
    unit: str | None = None
    code: Code | None = None
    text: str | None = None
    low: Quantity | None = None
    high: Quantity | None = None
    low_closed: bool | None = None
    high_closed: bool | None = None
    null_flavor: str | None = None


class Characteristic(_Frozen):
    """An open-ended coded characteristic, e.g. an FDA device block item (malfunction, problem code)."""

    code: Code
    value: Value | None = None


class CaseDocument(_Frozen):
    """A document held by the sender (C.1.6.1.r) or a literature reference (C.4.r)."""

    kind: Literal["document", "literature"]
    title: Text | None = Field(None, description="C.1.6.1.r.1 or C.4.r.1 (bibliographic designation)")
    media_type: str | None = None
    representation: str | None = None
    content: str | None = Field(None, description="included document, base64 as sent (C.1.6.1.r.2, C.4.r.2)")
    reference: str | None = Field(None, description="a reference to the document instead of its content")
    code: Code | None = None


class Person(_Frozen):
    """Name, organisation, address and telecom of a reporter or sender."""

    title: Text | None = None
    given: Text | None = None
    middle: Text | None = None
    family: Text | None = None
    organisation: Text | None = None
    department: Text | None = None
    street: Text | None = None
    city: Text | None = None
    state: Text | None = None
    postcode: Text | None = None
    country: Code | None = None
    telecom: tuple[str, ...] = Field((), description="as sent: tel:, fax:, mailto: URIs (C.2.r.2.7, FDA.C.2.r.2.8)")
    reference: str | None = Field(None, description="a FHIR reference to the person as sent (Practitioner/...)")


class PrimarySource(_Frozen):
    """C.2.r: a primary source (reporter)."""

    person: Person = Person()
    qualification: Code | None = Field(None, description="C.2.r.4 (1 physician ... 5 consumer)")
    regulatory: bool = Field(False, description="C.2.r.5 primary source for regulatory purposes")


class SenderInfo(_Frozen):
    """C.3: the sender of the case."""

    type: Code | None = Field(None, description="C.3.1 (1 pharmaceutical company, 2 regulator, ...)")
    person: Person = Person()


class CaseStudy(_Frozen):
    """C.5: the study in which the reaction occurred (with the FDA IND / pre-ANDA numbers)."""

    registrations: tuple[tuple[str, Code | None], ...] = Field((), description="C.5.1.r number and country")
    name: Text | None = Field(None, description="C.5.2")
    sponsor_study_number: Text | None = Field(None, description="C.5.3")
    study_type: Code | None = Field(None, description="C.5.4")
    fda_ind: tuple[str, ...] = Field((), description="FDA.C.5.5a")
    fda_pre_anda: tuple[str, ...] = Field((), description="FDA.C.5.5b")
    fda_cross_reported_ind: tuple[str, ...] = Field((), description="FDA.C.5.6.r")


class MedicalHistory(_Frozen):
    """D.7.1.r: a structured medical history item."""

    condition: Code | None = Field(None, description="MedDRA LLT code and version")
    start: Timestamp | None = None
    end: Timestamp | None = None
    continuing: Flag | None = None
    comments: Text | None = None
    family_history: Flag | None = None


class DrugHistory(_Frozen):
    """D.8.r (or D.10.8.r for the parent): a relevant past drug."""

    name: Text | None = None
    product_code: Code | None = Field(None, description="MPID or PhPID")
    start: Timestamp | None = None
    end: Timestamp | None = None
    indication: Code | None = None
    reaction: Code | None = None


class DeathDetails(_Frozen):
    """D.9: date and causes of death."""

    date: Timestamp | None = None
    reported_causes: tuple[Code, ...] = ()
    autopsy: Flag | None = None
    autopsy_causes: tuple[Code, ...] = ()


class ParentInfo(_Frozen):
    """D.10: the parent in a parent-child or foetus report."""

    name: Text | None = None
    birth_date: Timestamp | None = None
    age: Quantity | None = None
    last_menstrual_period: Timestamp | None = None
    weight: Quantity | None = None
    height: Quantity | None = None
    sex: Code | None = None
    medical_history: tuple[MedicalHistory, ...] = ()
    history_text: Text | None = None
    drug_history: tuple[DrugHistory, ...] = ()


class Patient(_Frozen):
    """D: the patient."""

    name: Text | None = Field(None, description="D.1 name or initials (often nullFlavor MSK)")
    birth_date: Timestamp | None = None
    age: Quantity | None = Field(None, description="D.2.2 age at onset, UCUM unit (a, mo, wk, d, h, 10.a)")
    gestation: Quantity | None = Field(None, description="D.2.2.1 gestation period at onset")
    age_group: Code | None = Field(None, description="D.2.3 (0 foetus ... 6 elderly)")
    weight: Quantity | None = Field(None, description="D.3 kg")
    height: Quantity | None = Field(None, description="D.4 cm")
    sex: Code | None = Field(None, description="D.5 ISO 5218 (1 male, 2 female)")
    last_menstrual_period: Timestamp | None = None
    medical_history: tuple[MedicalHistory, ...] = ()
    history_text: Text | None = Field(None, description="D.7.2")
    concomitant_therapies: Flag | None = Field(None, description="D.7.3")
    drug_history: tuple[DrugHistory, ...] = ()
    death: DeathDetails | None = None
    parent: ParentInfo | None = None
    race: tuple[Code, ...] = Field((), description="FDA.D.11.r (NCIt)")
    ethnicity: Code | None = Field(None, description="FDA.D.12 (NCIt)")
    reference: str | None = Field(
        None, description="FHIR subject as sent (Patient/<id>); <id> is the registry pseudonym of a monitored patient"
    )


SERIOUSNESS = ("death", "life_threatening", "hospitalisation", "disabling", "congenital_anomaly", "medically_important")


class Reaction(_Frozen):
    """E.i: a reaction or event. Seriousness is per reaction in E2B(R3) (E.i.3.2a-f, FDA.E.i.3.2h)."""

    id: str | None = Field(None, description="the reaction's id in the message (G.k.9.i.1 refers to it)")
    as_reported: Text | None = Field(None, description="E.i.1.1a")
    as_reported_language: str | None = Field(None, description="E.i.1.1b ISO 639-2")
    translation: Text | None = Field(None, description="E.i.1.2")
    meddra: Code | None = Field(None, description="E.i.2.1 MedDRA LLT code and version")
    highlighted: Code | None = Field(None, description="E.i.3.1")
    death: Flag | None = None
    life_threatening: Flag | None = None
    hospitalisation: Flag | None = None
    disabling: Flag | None = None
    congenital_anomaly: Flag | None = None
    medically_important: Flag | None = None
    required_intervention: Flag | None = Field(None, description="FDA.E.i.3.2h")
    start: Timestamp | None = None
    end: Timestamp | None = None
    duration: Quantity | None = None
    outcome: Code | None = Field(None, description="E.i.7 (1 recovered ... 5 fatal, 0 unknown)")
    medically_confirmed: Flag | None = Field(None, description="E.i.8")
    country: Code | None = Field(None, description="E.i.9")
    seriousness: Code | None = Field(
        None, description="overall seriousness as sent apart from the criteria (FHIR AdverseEvent.seriousness)"
    )
    severity: Code | None = Field(None, description="severity (intensity), not seriousness (FHIR R4 severity)")
    categories: tuple[Code, ...] = Field((), description="FHIR AdverseEvent.category")
    other_codes: tuple[Code, ...] = Field((), description="codes of the event outside MedDRA (SNOMED CT from FHIR)")

    @property
    def serious(self) -> bool:
        """True if any ICH E2A criterion is true (a Null is not true)."""
        return any(getattr(self, f) is True for f in (*SERIOUSNESS, "required_intervention"))


class TestResult(_Frozen):
    """F.r: a test or procedure relevant to the investigation."""

    __test__ = False  # not a pytest class

    date: Timestamp | None = None
    name: Text | None = Field(None, description="F.r.2.1 free text")
    meddra: Code | None = Field(None, description="F.r.2.2 MedDRA code")
    result_code: Code | None = Field(None, description="F.r.3.1 (1 positive ... 4 inconclusive)")
    result: Value | None = Field(None, description="F.r.3.2/3.3 value with unit (PQ or IVL_PQ; NINF/PINF kept)")
    result_text: Text | None = Field(None, description="F.r.3.4 unstructured result")
    normal_low: Quantity | None = None
    normal_high: Quantity | None = None
    comments: Text | None = None
    more_information: Flag | None = None


class Dosage(_Frozen):
    """G.k.4.r: one dosage regimen."""

    dose: Quantity | None = Field(None, description="G.k.4.r.1")
    period: Quantity | None = Field(None, description="G.k.4.r.2/3 number of units in the interval, interval unit")
    start: Timestamp | None = Field(None, description="G.k.4.r.4")
    end: Timestamp | None = Field(None, description="G.k.4.r.5")
    duration: Quantity | None = Field(None, description="G.k.4.r.6")
    time_null_flavor: str | None = Field(None, description="the whole administration time withheld (nullFlavor)")
    lot_number: Text | None = Field(None, description="G.k.4.r.7 (patient-specific batches for CGT)")
    text: Text | None = Field(None, description="G.k.4.r.8")
    dose_form: Code | None = Field(None, description="G.k.4.r.9")
    route: Code | None = Field(None, description="G.k.4.r.10")
    parent_route: Code | None = Field(None, description="G.k.4.r.11")
    country_obtained: str | None = Field(None, description="FDA: country of the performer of this dosage")


class Ingredient(_Frozen):
    """G.k.2.3.r: a substance with its term id and strength."""

    name: Text | None = None
    code: Code | None = Field(None, description="TermID (FDA: UNII)")
    strength: Quantity | None = None
    strength_per: Quantity | None = Field(None, description="the strength's denominator")


class Device(_Frozen):
    """FDA.G.k.12.r: a device constituent of a combination product."""

    code: Code | None = Field(None, description="FDA.G.k.12.r.6 product code")
    names: tuple[str, ...] = Field((), description="FDA.G.k.12.r.4 brand name, FDA.G.k.12.r.5 common name")
    manufacturer: Person | None = Field(None, description="FDA.G.k.12.r.7 (organisation and address)")
    characteristics: tuple[Characteristic, ...] = Field(
        (), description="malfunction, follow-up type, problem codes, usage, operator, remedial actions"
    )
    lot_number: Text | None = Field(None, description="FDA.G.k.12.r.9")


class Relatedness(_Frozen):
    """G.k.9.i.2.r: one assessment of relatedness (source, method, result)."""

    source: Text | None = None
    method: Text | None = None
    result: Text | None = None


class DrugReactionAssessment(_Frozen):
    """G.k.9.i: the drug-reaction matrix row of one drug and one reaction."""

    reaction_id: str
    start_interval: Quantity | None = Field(None, description="G.k.9.i.3.1 drug start to reaction start")
    last_dose_interval: Quantity | None = Field(None, description="G.k.9.i.3.2 last dose to reaction start")
    recurrence: Code | None = Field(None, description="G.k.9.i.4 rechallenge: did the reaction recur?")
    relatedness: tuple[Relatedness, ...] = ()


class Drug(_Frozen):
    """G.k: a drug (or biological, cell or gene therapy product)."""

    id: str | None = Field(None, description="the drug's id in the message (assessments refer to it)")
    role: Code | None = Field(None, description="G.k.1 characterisation of drug role")
    name: Text | None = Field(None, description="G.k.2.2 as reported")
    product_code: Code | None = Field(None, description="G.k.2.1 MPID/PhPID (FDA: NDC)")
    ingredients: tuple[Ingredient, ...] = ()
    country_obtained: str | None = Field(None, description="G.k.2.4")
    supply: Code | None = Field(
        None, description="the product event code with G.k.2.4 (the writer uses ICH code 1 'retailSupply' if None)"
    )
    blinded: Flag | None = Field(None, description="G.k.2.5")
    authorisation_number: Text | None = Field(None, description="G.k.3.1 (US CGT: the BLA)")
    authorisation_country: Code | None = Field(None, description="G.k.3.2")
    holder: Text | None = Field(None, description="G.k.3.3")
    dosages: tuple[Dosage, ...] = ()
    cumulative_dose: Quantity | None = Field(None, description="G.k.5")
    gestation_at_exposure: Quantity | None = Field(None, description="G.k.6")
    indications: tuple[Code, ...] = Field((), description="G.k.7.r (original text and MedDRA)")
    action_taken: Code | None = Field(None, description="G.k.8 (1 withdrawn ... 4 not changed, 0 unknown, 9 N/A)")
    assessments: tuple[DrugReactionAssessment, ...] = ()
    additional_info: tuple[Code, ...] = Field((), description="G.k.10.r coded")
    additional_info_text: Text | None = Field(None, description="G.k.11")
    fda_other_role: Code | None = Field(None, description="FDA.G.k.1.a")
    fda_product_category: Code | None = Field(None, description="FDA.G.k.10.1 specialised product category")
    devices: tuple[Device, ...] = ()

    @property
    def suspect(self) -> bool:
        return self.role is not None and self.role.code in ("1", "3")


class IcsrCase(_Frozen):
    """One ICSR in canonical form (C, D, E, F, G, H) with its message header (N.2.r)."""

    message_id: str | None = Field(None, description="N.2.r.1")
    message_sender: str | None = Field(None, description="N.2.r.2")
    message_receiver: str | None = Field(None, description="N.2.r.3 (FDA: CDER, CBER_IND, ...)")
    message_created: Timestamp | None = Field(None, description="N.2.r.4")
    safety_report_id: str = Field(description="C.1.1 sender's safety report unique id")
    created: Timestamp | None = Field(None, description="C.1.2 date of creation")
    report_type: Code | None = Field(None, description="C.1.3 (1 spontaneous, 2 study, 3 other, 4 not available)")
    first_received: Timestamp | None = Field(None, description="C.1.4 (day 0 of the reporting clock)")
    most_recent: Timestamp | None = Field(None, description="C.1.5 (orders versions of a case)")
    additional_documents: Flag | None = Field(None, description="C.1.6.1")
    documents: tuple[CaseDocument, ...] = Field((), description="C.1.6.1.r and C.4.r")
    expedited: Flag | None = Field(None, description="C.1.7 fulfils local criteria for an expedited report")
    worldwide_id: str | None = Field(None, description="C.1.8.1 (the case; versions share it)")
    first_sender: Code | None = Field(None, description="C.1.8.2 (1 regulator, 2 other)")
    other_ids_exist: Flag | None = Field(None, description="C.1.9.1")
    other_ids: tuple[tuple[str | None, str], ...] = Field((), description="C.1.9.1.r (source, identifier)")
    linked_reports: tuple[str, ...] = Field((), description="C.1.10.r")
    nullification: Code | None = Field(None, description="C.1.11.1 (1 nullification, 2 amendment)")
    nullification_reason: Text | None = Field(None, description="C.1.11.2")
    fda_local_criteria: Code | None = Field(None, description="FDA.C.1.7.1 (1 15-day, 2 non-expedited, 6 7-day ...)")
    fda_combination_product: Flag | None = Field(None, description="FDA.C.1.12")
    orphan_roles: tuple[tuple[str, Code], ...] = Field(
        (), description="G.k.1 roles whose drug id is no drug of the report (kept and flagged ORPHAN_CHILD, C6)"
    )
    orphan_relatedness: tuple[tuple[str, str, Relatedness], ...] = Field(
        (), description="G.k.9.i.2.r assessments (drug id, reaction id) whose drug is no drug of the report (C6)"
    )
    primary_sources: tuple[PrimarySource, ...] = ()
    sender: SenderInfo | None = None
    study: CaseStudy | None = None
    patient: Patient = Patient()
    reactions: tuple[Reaction, ...] = ()
    tests: tuple[TestResult, ...] = ()
    drugs: tuple[Drug, ...] = ()
    narrative: Text | None = Field(None, description="H.1")
    reporter_comments: Text | None = Field(None, description="H.2")
    sender_diagnoses: tuple[Code, ...] = Field((), description="H.3.r MedDRA")
    sender_comments: Text | None = Field(None, description="H.4")
    summaries: tuple[tuple[str, str | None], ...] = Field((), description="H.5.r text and language")

    @property
    def case_id(self) -> str:
        """The case across versions: the world-wide unique id, else the sender's report id."""
        return self.worldwide_id or self.safety_report_id

    @property
    def is_nullification(self) -> bool:
        return self.nullification is not None and self.nullification.code == "1"

    @property
    def is_amendment(self) -> bool:
        return self.nullification is not None and self.nullification.code == "2"

    @property
    def serious(self) -> bool:
        return any(r.serious for r in self.reactions)


VersionStatus = Literal["current", "superseded", "nullified"]


class CaseVersion(_Frozen):
    """One received version of a case, with what it did to the case."""

    case: IcsrCase
    kind: Literal["initial", "follow-up", "amendment", "nullification"]
    status: VersionStatus
    received: str | None = Field(None, description="C.1.5 of this version")


def _rank(case: IcsrCase) -> tuple[str, str]:
    def plain(ts: Timestamp | None) -> str:
        return ts if isinstance(ts, str) else ""

    return plain(case.most_recent), plain(case.created)


class CaseHistory(_Frozen):
    """Every version of one case (C.1.8.1), ordered by C.1.5 then C.1.2.

    A follow-up replaces the current version, an amendment (C.1.11.1 = 2) replaces it and is
    marked as such, a nullification (C.1.11.1 = 1) marks the whole case nullified; no version is
    ever dropped.

    Examples
    --------
    >>> v1 = IcsrCase(safety_report_id="US-X-1", worldwide_id="US-X-1", most_recent="20240101")
    >>> v2 = v1.model_copy(update={"most_recent": "20240201"})
    >>> h = CaseHistory(case_id="US-X-1").add(v1).add(v2)
    >>> [v.kind for v in h.versions], h.current.most_recent
    (['initial', 'follow-up'], '20240201')
    """

    case_id: str
    versions: tuple[CaseVersion, ...] = ()

    @property
    def nullified(self) -> bool:
        return any(v.kind == "nullification" for v in self.versions)

    @property
    def current(self) -> IcsrCase | None:
        """The version in force (the latest non-nullification), None when there is none."""
        live = [v for v in self.versions if v.kind != "nullification"]
        return live[-1].case if live else None

    def add(self, case: IcsrCase) -> CaseHistory:
        """A new history with ``case`` added in its place; re-adding an identical version is a no-op."""
        if case.case_id != self.case_id:
            raise ValueError(f"case {case.case_id!r} is not a version of {self.case_id!r}")
        if any(v.case == case for v in self.versions):
            return self
        cases = sorted([*(v.case for v in self.versions), case], key=_rank)
        nullified = any(c.is_nullification for c in cases)
        out: list[CaseVersion] = []
        live = [c for c in cases if not c.is_nullification]
        for i, c in enumerate(cases):
            if c.is_nullification:
                kind: Literal["initial", "follow-up", "amendment", "nullification"] = "nullification"
            elif c.is_amendment:
                kind = "amendment"
            else:
                kind = "initial" if not any(o is not c and not o.is_nullification for o in cases[:i]) else "follow-up"
            status: VersionStatus = (
                "nullified" if nullified else ("current" if live and c is live[-1] else "superseded")
            )
            recv = c.most_recent if isinstance(c.most_recent, str) else None
            out.append(CaseVersion(case=c, kind=kind, status=status, received=recv))
        return CaseHistory(case_id=self.case_id, versions=tuple(out))
