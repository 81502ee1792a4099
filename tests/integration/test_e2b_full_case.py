"""Every field of the canonical case survives export -> import, and the export validates
(elements the FDA examples do not carry: tests, parent, death, dosage regimen, drug-reaction
intervals, rechallenge, documents, literature, other ids, linked reports, amendments)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from cgtvigil.ingest import read_e2b
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
from cgtvigil.reports import check_fda_rules, validate_e2b, write_e2b

MEDDRA = "2.16.840.1.113883.6.163"
L = "2.16.840.1.113883.3.989.2.1.1."


def _m(code: str, text: str | None = None) -> Code:
    return Code(code=code, system=MEDDRA, version="27.1", original_text=text)


def full_case() -> IcsrCase:
    r1, r2 = "0f0e8a52-1111-4c1d-9d5a-000000000001", "0f0e8a52-1111-4c1d-9d5a-000000000002"
    d1, d2 = "0f0e8a52-2222-4c1d-9d5a-000000000001", "0f0e8a52-2222-4c1d-9d5a-000000000002"
    mh = MedicalHistory(
        condition=_m("10020772"),
        start="2019",
        end=Null(null_flavor="UNK"),
        continuing=True,
        comments="controlled",
        family_history=False,
    )
    dh = DrugHistory(
        name="Cyclophosphamide",
        product_code=Code(code="0000-1", system="2.16.840.1.113883.6.69"),
        start="20240101",
        end="20240103",
        indication=_m("10025310"),
        reaction=_m("10028813"),
    )
    return IcsrCase(
        message_id="MSG-1",
        message_sender="SENDER1",
        message_receiver="CBER_IND",
        message_created="20250102030405+0000",
        safety_report_id="US-CGTCO-000123",
        created="20250102030405+0000",
        report_type=Code(code="2", system=L + "2", display="Report from study"),
        first_received="20241230",
        most_recent="20250101",
        additional_documents=True,
        documents=(
            CaseDocument(
                kind="document",
                title="Discharge summary",
                media_type="application/pdf",
                representation="B64",
                content="JVBERi0xLjQK",
                code=Code(code="1", system=L + "27"),
            ),
            CaseDocument(
                kind="literature",
                title="Doe J. CRS after CAR-T. J Tox 2024;1:1-2.",
                code=Code(code="2", system=L + "27"),
            ),
        ),
        expedited=True,
        worldwide_id="US-CGTCO-000123",
        first_sender=Code(code="2", system=L + "3"),
        other_ids_exist=True,
        other_ids=(("PARTNER", "P-9"),),
        linked_reports=("US-CGTCO-000099",),
        nullification=Code(code="2", system=L + "5"),
        nullification_reason="corrected onset date",
        fda_local_criteria=Code(code="6", system="2.16.840.1.113883.3.989.5.1.2.2.1.1.1", display="7-Day"),
        fda_combination_product=False,
        orphan_roles=(("0f0e8a52-9999-4c1d-9d5a-000000000009", Code(code="4", system=L + "13")),),
        orphan_relatedness=(("0f0e8a52-9999-4c1d-9d5a-000000000009", r1, Relatedness(result="Unassessable")),),
        primary_sources=(
            PrimarySource(
                person=Person(
                    title="Dr",
                    given="Ann",
                    middle="B",
                    family="Lee",
                    organisation="City Hospital",
                    department="Haematology",
                    street="1 Road",
                    city="Town",
                    state="CA",
                    postcode="90000",
                    country=Code(code="US", system="1.0.3166.1.2.2"),
                    telecom=("tel:5550100", "mailto:a@example.org"),
                ),
                qualification=Code(code="1", system=L + "6"),
                regulatory=True,
            ),
            PrimarySource(person=Person(family=Null(null_flavor="MSK")), qualification=Code(code="5", system=L + "6")),
        ),
        sender=SenderInfo(
            type=Code(code="1", system=L + "7"),
            person=Person(
                organisation="CGT Co",
                department="Safety",
                given="Sam",
                family="Ray",
                country=Code(code="US", system="1.0.3166.1.2.2"),
                telecom=("fax:5550101",),
            ),
        ),
        study=CaseStudy(
            registrations=(("NCT00000000", Code(code="US", system="1.0.3166.1.2.2")),),
            name="CAR-T 001",
            sponsor_study_number="CGT-001",
            study_type=Code(code="1", system=L + "8"),
            fda_ind=("012345",),
            fda_cross_reported_ind=("023456",),
        ),
        patient=Patient(
            name=Null(null_flavor="MSK"),
            birth_date=Null(null_flavor="MSK"),
            age=Quantity(value="61", unit="a"),
            age_group=Code(code="5", system=L + "9"),
            weight=Quantity(value="72.5", unit="kg"),
            height=Quantity(value="170", unit="cm"),
            sex=Code(code="2", system="1.0.5218"),
            last_menstrual_period="2010",
            medical_history=(mh,),
            history_text="DLBCL, 3 prior lines",
            concomitant_therapies=True,
            drug_history=(dh,),
            death=DeathDetails(
                date="20250101",
                reported_causes=(_m("10011906", "CRS"),),
                autopsy=True,
                autopsy_causes=(_m("10011906", "cytokine release syndrome"),),
            ),
            parent=ParentInfo(
                name="MP",
                birth_date="1980",
                age=Quantity(value="44", unit="a"),
                weight=Quantity(value="60", unit="kg"),
                sex=Code(code="2", system="1.0.5218"),
                medical_history=(mh,),
                history_text="none",
                drug_history=(dh,),
            ),
            race=(Code(code="C41260", system="2.16.840.1.113883.3.26.1.1"),),
            ethnicity=Code(code="C41222", system="2.16.840.1.113883.3.26.1.1"),
        ),
        reactions=(
            Reaction(
                id=r1,
                as_reported="fever and hypotension",
                as_reported_language="eng",
                translation="fièvre",
                meddra=_m("10011906"),
                highlighted=Code(code="3", system=L + "10"),
                death=True,
                life_threatening=True,
                hospitalisation=Null(null_flavor="NI"),
                disabling=False,
                congenital_anomaly=Null(null_flavor="NI"),
                medically_important=True,
                required_intervention=Null(null_flavor="NI"),
                start="20241228",
                end="20250101",
                duration=Quantity(value="4", unit="d"),
                outcome=Code(code="5", system=L + "11"),
                medically_confirmed=True,
                country=Code(code="US", system="1.0.3166.1.2.2"),
            ),
            Reaction(id=r2, meddra=_m("10061818"), start="202412", outcome=Code(code="0", system=L + "11")),
        ),
        tests=(
            TestResult(
                date="20241229",
                name="Ferritin",
                meddra=_m("10016676"),
                result=Value(type="PQ", value="12000", unit="ug/L"),
                normal_low=Quantity(value="30", unit="ug/L"),
                normal_high=Quantity(value="400", unit="ug/L"),
                comments="rising",
                more_information=False,
            ),
            TestResult(
                date="20241229",
                name="CRP",
                result=Value(
                    type="IVL_PQ",
                    low=Quantity(value="500", unit="mg/L"),
                    high=Quantity(null_flavor="PINF"),
                    low_closed=False,
                ),
            ),
            TestResult(
                date="2024", name="Blood culture", result_code=Code(code="2", system=L + "12"), result_text="no growth"
            ),
        ),
        drugs=(
            Drug(
                id=d1,
                role=Code(code="1", system=L + "13"),
                name="Axicabtagene ciloleucel",
                product_code=Code(code="71287-119", system="2.16.840.1.113883.6.69"),
                ingredients=(
                    Ingredient(
                        name="AXICABTAGENE CILOLEUCEL",
                        code=Code(code="U2I8T43Y7R", system="2.16.840.1.113883.4.9"),
                        strength=Quantity(value="2", unit="10*6/kg"),
                        strength_per=Quantity(value="1", unit="1"),
                    ),
                ),
                country_obtained="US",
                supply=Code(code="1", system=L + "18", display="retailSupply"),
                blinded=False,
                authorisation_number="BLA125643",
                authorisation_country=Code(code="US", system="1.0.3166.1.2.2"),
                holder="Kite",
                dosages=(
                    Dosage(
                        dose=Quantity(value="2", unit="10*6/kg"),
                        period=Quantity(value="1", unit="{total}"),
                        start="20241224",
                        end="20241224",
                        duration=Quantity(value="1", unit="d"),
                        lot_number="PATIENT-SPECIFIC-LOT-77",
                        text="single infusion",
                        dose_form=Code(code="11210000", system="0.4.0.127.0.16.1.1.2.1", original_text="suspension"),
                        route=Code(code="20045000", system="0.4.0.127.0.16.1.1.2.6", original_text="intravenous"),
                        parent_route=Code(code="20045000", system="0.4.0.127.0.16.1.1.2.6"),
                        country_obtained="US",
                    ),
                ),
                cumulative_dose=Quantity(value="2", unit="10*6/kg"),
                gestation_at_exposure=None,
                indications=(_m("10012818", "DLBCL"),),
                action_taken=Code(code="9", system=L + "15"),
                assessments=(
                    DrugReactionAssessment(
                        reaction_id=r1,
                        start_interval=Quantity(value="4", unit="d"),
                        last_dose_interval=Quantity(value="4", unit="d"),
                        recurrence=Code(code="4", system=L + "16"),
                        relatedness=(
                            Relatedness(source="Investigator", method="Global Introspection", result="Related"),
                            Relatedness(source="Sponsor", method="WHO-UMC", result="Probable"),
                        ),
                    ),
                ),
                additional_info=(Code(code="5", system=L + "17"),),
                additional_info_text="cells manufactured in 17 days",
            ),
            Drug(
                id=d2,
                role=Code(code="2", system=L + "13"),
                name="Tocilizumab",
                dosages=(Dosage(dose=Quantity(value="8", unit="mg/kg"), start="20241228"),),
                devices=(
                    Device(
                        code=Code(code="FMF", system="2.16.840.1.113883.3.26.1.1"),
                        names=("Pen", "Injector"),
                        manufacturer=Person(organisation="DevCo", city="X", country=Code(code="US")),
                        characteristics=(
                            Characteristic(
                                code=Code(code="C54026", system="2.16.840.1.113883.3.26.1.1"),
                                value=Value(type="BL", value="false"),
                            ),
                        ),
                        lot_number="D-1",
                    ),
                ),
            ),
        ),
        narrative="Grade 4 CRS on day 4 after infusion; fatal.",
        reporter_comments="related",
        sender_diagnoses=(_m("10011906"),),
        sender_comments="expected per RSI",
        summaries=(("Résumé", "fre"),),
    )


def test_every_field_round_trips_and_validates(shared: Path) -> None:
    case = full_case()
    xml = write_e2b([case], batch_id="B-1", sender="SENDER1", receiver="ZZFDA_PREMKT", created="20250102030405+0000")
    assert validate_e2b(xml, shared / "e2b_r3/schemas") == []
    batch = read_e2b(xml, name="full.xml")
    assert not batch.quarantined
    assert [w.split(":")[0] for w in batch.loaded[0].warnings] == ["ORPHAN_CHILD", "ORPHAN_CHILD"]
    back = batch.cases[0]
    for name in IcsrCase.model_fields:
        assert getattr(back, name) == getattr(case, name), name
    assert back == case


def test_business_rules_report_their_ids() -> None:
    case = full_case().model_copy(update={"primary_sources": (), "report_type": Code(code="3", system=L + "2")})
    ids = {v.rule_id for v in check_fda_rules([case], batch_receiver="ZZFDA")}
    assert {"R0021", "R0006"} <= ids and "R0004" not in ids  # no primary source; CBER_IND sent to ZZFDA
    premkt = {v.rule_id for v in check_fda_rules([case], batch_receiver="ZZFDA_PREMKT")}
    assert "R0021" in premkt and "R0112" in premkt and "R0006" not in premkt


def _variants(model: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Copies of ``model`` with one field (at any depth) set back to its default."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        default = info.get_default(call_default_factory=True)
        if value == default or info.is_required():
            continue
        yield f"{path}{name}", model.model_copy(update={name: default})
        children: list[tuple[str, Any]] = []
        if isinstance(value, BaseModel):
            children = [(f"{path}{name}.", value)]
        elif isinstance(value, tuple):
            children = [(f"{path}{name}[{i}].", v) for i, v in enumerate(value) if isinstance(v, BaseModel)]
        for i, (sub_path, child) in enumerate(children):
            for where, variant in _variants(child, sub_path):
                if isinstance(value, tuple):
                    items = list(value)
                    items[i] = variant
                    new: Any = tuple(items)
                else:
                    new = variant
                yield where, model.model_copy(update={name: new})


# What the writer completes because E2B(R3) requires it (and the reader then reads back):
# message and batch headers, ids, the document kind code, the retail-supply code with G.k.2.4,
# the strength's denominator, a given-name placeholder before a middle name; and fields that
# only qualify another one that is absent (a language without its text).
FILLED = re.compile(
    r"^(message_id|message_sender|message_receiver|message_created|created|worldwide_id"
    r"|documents\[\d+\]\.code(\.code)?|drugs\[\d+\]\.(id|supply|ingredients\[\d+\]\.strength(_per)?)"
    r"|reactions\[\d+\]\.(id|as_reported)|primary_sources\[\d+\]\.person\.given)$"
)


def test_each_field_left_out_still_round_trips(shared: Path) -> None:
    """The full case with any one field (at any depth) back to its default: what is absent stays
    absent and everything else survives, except the fields in FILLED, which come back filled
    and then stay as they are on a second round trip."""
    failures = []
    tried = 0
    for where, variant in _variants(full_case()):
        try:
            case = IcsrCase.model_validate(variant.model_dump())
        except PydanticValidationError:
            continue  # not a valid case (e.g. an empty Code): nothing to export
        tried += 1
        back = read_e2b(write_e2b([case], batch_id="B", sender="S", receiver="R"), name=where).cases
        if FILLED.match(where):
            again = read_e2b(write_e2b(back, batch_id="B", sender="S", receiver="R")).cases
            if again != back:
                failures.append(f"{where}: not stable after the first round trip")
        elif back != [case]:
            diff = [n for n in IcsrCase.model_fields if getattr(back[0], n) != getattr(case, n)] if back else ["(lost)"]
            failures.append(f"{where}: differs in {diff}")
    assert tried > 300
    assert not failures, f"{len(failures)} of {tried} variants do not round-trip:\n" + "\n".join(failures)
