"""FDA E2B(R3) business rules that a machine can check, each reporting its FDA rule id.

The rules are data: ``_FDA_RULES`` holds FDA's element, severity and error description for each
rule id, quoted from FDA's rejection/warning rule spreadsheet (a US Government work; a reference
test compares every entry with the spreadsheet), and ``_CHECKS`` holds one predicate per rule id
that is true when the rule is broken. Rules that need FDA's registries (product names for an
application number, valid problem codes, centre of an IND: R0105, R0106, W0008, W0009, W0012),
the case's earlier versions (initial report: R0011, R0101), the batch header (R0100), content
encoding (R0010) or representations the canonical case does not hold (nullFlavor NA of
FDA.C.5.6.r, D.11, D.12 and D.1: R0026, R0027, W0003, W0004; FDA.G.k.10a and FDA.G.k.12.r.1/11:
W0006, R0092, W0007) are not checked here: 105 of FDA's 121 rule ids are.
"""

# ruff: noqa: E501  (FDA rule texts are quoted whole)
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cgtvigil.model import Code, DrugHistory, IcsrCase, Null, Quantity

__all__ = ["FDA_RULE_IDS", "RuleViolation", "check_fda_rules"]

PREMARKET = ("CDER_IND", "CBER_IND", "CDER_IND_EXEMPT_BA_BE")

# generated from fda_business_rules/rejection_warning_rules.csv (ERROR ID, DATA ELEMENT, REJECTION/WARNING, DESCRIPTION)
_FDA_RULES: dict[str, tuple[str, str, str]] = {  # id: (element, severity, FDA's error description)
    "R0004": ("N.1.4", "rejection", 'ICSR sent to the postmaket route does not have the value "ZZFDA" for N.1.4'),
    "R0005": ("N.1.4", "rejection", 'ICSR sent to the premaket route does not have the value "ZZFDA_PREMKT" for N.1.4'),
    "R0006": ("N.2.r.3", "rejection", 'N.1.4 = "ZZFDA" but N.2.r.3 is not "CDER"'),
    "R0007": (
        "N.2.r.3",
        "rejection",
        'N.1.4 = "ZZFDA_PREMKT" but N.2.r.3 is not "CDER_IND" or "CBER_IND" or "CDER_IND_EXEMPT_BA_BE"',
    ),
    "R0008": (
        "C.1.3",
        "rejection",
        "C.1.3 must be 2 when N.1.4 = \"ZZFDA_PREMKT\" and N.2.r.3 = 'CDER_IND' or 'CBER_IND' or 'CDER_IND_EXEMPT_BA_BE' and (FDA.C.5.5a or FDA.C.5.5b) is provided and C.5.4 = (1, 2 or 3)",
    ),
    "R0111": (
        "C.1.3",
        "rejection",
        "C.1.3 must be 2 when N.1.4 = \"ZZFDA_PREMKT\" and N.2.r.3 = 'CDER_IND_EXEMPT_BA_BE'",
    ),
    "R0112": (
        "C.1.3",
        "rejection",
        "C.1.3 must not be 3 or 4 when N.1.4 = \"ZZFDA_PREMKT\" and N.2.r.3 = 'CDER_IND' or 'CBER_IND'",
    ),
    "R0009": ("C.1.6.1.r.1", "rejection", "C.1.6.1.r.1 must be provided when C.1.6.1 = true"),
    "R0012": (
        "FDA.C.1.7.1",
        "rejection",
        "FDA.C.1.7.1 must have Observation Code Value of 1 or 4 when FDA.C.1.12 = true and C.1.7 = true",
    ),
    "R0013": (
        "FDA.C.1.7.1",
        "rejection",
        'FDA.C.1.7.1 must have Observation Code Value of 2 or 5 when FDA.C.1.12 = true and C.1.7 = false or nullFlavor "NI"',
    ),
    "R0014": (
        "FDA.C.1.7.1",
        "rejection",
        "FDA.C.1.7.1 must have Observation Code Value of 1 when FDA.C.1.12 = false or NI and C.1.7 = true",
    ),
    "R0015": (
        "FDA.C.1.7.1",
        "rejection",
        'FDA.C.1.7.1 must have Observation Code Value of 2 when FDA.C.1.12 = false or nullFlavor "NI" and C.1.7 = false or nullFlavor "NI"',
    ),
    "R0017": ("C.1.9.1.r.1", "rejection", "At least one C.1.9.1.r.1 must be provided when C.1.9.1 = true"),
    "R0019": ("C.2.r.3", "rejection", "C.2.r.3 must be provided when C.2.r.5 = 1"),
    "R0020": ("C.2.r.4", "rejection", "C.2.r.4 must be provided when C.2.r.5 = 1"),
    "R0021": ("C.2.r.5", "rejection", "At least one reporter must be provided with C.2.r.5 = 1"),
    "R0022": ("C.3.2", "rejection", "C.3.2 must be provided when C.3.1 = 1, 2, 3, 4, 5 or 6"),
    "R0023": ("C.5.4", "rejection", "C.5.4 must be provided when C.1.3 =2"),
    "R0024": (
        "FDA.C.5.5a",
        "rejection",
        'FDA.C.5.5a must be provided when C.1.3 = (1 or 2) and N.2.r.3 = "CDER_IND" or "CBER_IND"',
    ),
    "R0107": (
        "FDA.C.5.5a",
        "rejection",
        'FDA.C.5.5a must not be provided when N.2.r.3 = "CDER" or "CBER" and N.1.4 = "ZZFDA"',
    ),
    "R0025": (
        "FDA.C.5.5b",
        "rejection",
        'FDA.C.5.5b must be provided when C.1.3 = 2 and N.2.r.3 = "CDER_IND_EXEMPT_BA_BE"',
    ),
    "R0108": (
        "FDA.C.5.5b",
        "rejection",
        'FDA.C.5.5b must not be provided when N.2.r.3 = "CDER" or "CBER" and N.1.4 = "ZZFDA"',
    ),
    "R0029": ("D.2.2a", "rejection", "D.2.2a must be provided when D.2.2b is provided"),
    "R0030": ("D.2.2b", "rejection", "D.2.2b must be provided when D.2.2a is provided"),
    "R0031": ("D.2.2.1a", "rejection", "D.2.2.1a must be provided when D.2.2.1b is provided"),
    "R0032": ("D.2.2.1b", "rejection", "D.2.2.1b must be provided when D.2.2.1a is provided"),
    "R0033": (
        "D.7.1.r.1a",
        "rejection",
        "D.7.1.r.1a must be provided when D.7.1.r.1b is provided for D.7.1.r.1b = <value>",
    ),
    "R0034": ("D.7.1.r.1b", "rejection", "D.7.1.r.1b must be provided when D.7.1.r.1a is provided"),
    "R0035": ("D.7.2", "rejection", "D.7.2 must be provided when no information is provided in Section D.7.1"),
    "R0045": ("D.9.3", "rejection", "D.9.3 must be provided when D.9.1 is provided"),
    "R0059": ("E.i.6a", "rejection", "E.i.6a must be provided when E.i.6b is provided"),
    "R0060": ("E.i.6b", "rejection", "E.i.6b must be provided when E.i.6a is provided"),
    "R0067": ("F.r.3.3", "rejection", "F.r.3.3 must be provided when F.r.3.2 is provided"),
    "W0005": (
        "G.k.1",
        "warning",
        "The first product reported does not have G.k.1 with Observation Code Value of 1, 3 or 4.",
    ),
    "R0069": (
        "G.k.1",
        "rejection",
        'G.k.1 must be provided with Observation Code Value of 1, 3 or 4 when N.2.r.3 = "CDER"',
    ),
    "R0073": ("G.k.2.3.r.3b", "rejection", "G.k.2.3.r.3b must be provided when G.k.2.3.r.3a is provided"),
    "R0074": ("G.k.3.2", "rejection", "G.k.3.2 must be provided when G.k.3.1 is provided"),
    "R0075": ("G.k.4.r.1b", "rejection", "G.k.4.r.1b must be provided when G.k.4.r.1a is provided"),
    "R0076": ("G.k.4.r.3", "rejection", "G.k.4.r.3 must be provided when G.k.4.r.2 is provided"),
    "R0077": ("G.k.4.r.6a", "rejection", "G.k.4.r.6a must be provided when G.k.4.r.6b is provided"),
    "R0078": ("G.k.4.r.6b", "rejection", "G.k.4.r.6b must be provided when G.k.4.r.6a is provided"),
    "R0079": ("G.k.5a", "rejection", "G.k.5a must be provided when G.k.5b is provided"),
    "R0080": ("G.k.5b", "rejection", "G.k.5b must be provided when G.k.5a is provided"),
    "R0081": ("G.k.6a", "rejection", "G.k.6a must be provided when G.k.6b is provided"),
    "R0082": ("G.k.6b", "rejection", "G.k.6b must be provided when G.k.6a is provided"),
    "R0083": ("G.k.7.r.2a", "rejection", "G.k.7.r.2a must be provided when G.k.7.r.2b is provided"),
    "R0084": ("G.k.7.r.2b", "rejection", "G.k.7.r.2b must be provided when G.k.7.r.2a is provided"),
    "R0088": ("G.k.9.i.3.1a", "rejection", "G.k.9.i.3.1a must be provided when G.k.9.i.3.1b is provided"),
    "R0089": ("G.k.9.i.3.1b", "rejection", "G.k.9.i.3.1b must be provided when G.k.9.i.3.1a is provided"),
    "R0090": ("G.k.9.i.3.2a", "rejection", "G.k.9.i.3.2a must be provided when G.k.9.i.3.2b is provided"),
    "R0091": ("G.k.9.i.3.2b", "rejection", "G.k.9.i.3.2b must be provided when G.k.9.i.3.2a is provided"),
    "R0093": ("FDA.G.k.12.r.3.r", "rejection", "FDA.G.k.12.r.3.r must be provided when FDA.G.k.12.r.1 = true"),
    "R0094": (
        "FDA.G.k.12.r.4",
        "rejection",
        "FDA.G.k.12.r.4 and/or FDA.G.k.12.r.5 must be provided when FDA.C.1.12 = true",
    ),
    "R0097": ("H.3.r.1a", "rejection", "H.3.r.1a must be provided when H.3.r.1b is provided"),
    "R0098": ("H.3.r.1b", "rejection", "H.3.r.1b must be provided when H.3.r.1a is provided"),
    "R0099": ("H.5.r.1b", "rejection", "H.5.r.1b must be provided when H.5.r.1a is provided"),
    "R0110": (
        "C.1.3",
        "rejection",
        "C.1.3 must be 1 when N.1.4 = \"ZZFDA_PREMKT\" and N.2.r.3 = ('CDER_IND' or 'CBER_IND') and FDA.C.5.5a is provided and C.5.4 is not provided",
    ),
    "R0016": (
        "FDA.C.1.7.1",
        "rejection",
        "FDA.C.1.7.1 must have Observation Code Value of 1 or 6 when C.1.7 = true and C.1.3 = 1 or 2",
    ),
    "R0018": ("C.1.9.1.r.2", "rejection", "C.1.9.1.r.2 must be provided for C.1.9.1.r.1 = <value>"),
    "R0102": (
        "C.5.4",
        "rejection",
        'C.5.4 must be 1, 2 or 3 when C.1.3 = 2 and N.2.r.3 = "CDER_IND" or "CBER_IND" or "CDER_IND_EXEMPT_BA_BE" and N.1.4 = "ZZFDA_PREMKT"',
    ),
    "R0103": ("C.5.4", "rejection", 'C.5.4 must not be provided when C.1.3 = 1 and N.2.r.3 = "CDER"'),
    "R0104": ("C.5.4", "rejection", "C.5.4 must be 1 or 2 or 3 when C.1.3 = 2, N.2.r.3 = \"CDER\" and N.1.4 = 'ZZFDA'"),
    "R0113": (
        "C.5.4",
        "rejection",
        "C.5.4 must not be provided when N.1.4 = \"ZZFDA_PREMKT\" and N.2.r.3 = 'CDER_IND' or 'CBER_IND' and C.1.3 =1",
    ),
    "W0001": ("C.1.10.r", "warning", 'C.1.10.r should be provided when D.1 = "AGGREGRATE"'),
    "W0002": ("C.5.4", "warning", 'C.5.4 should be 1 when D.1 = "AGGREGRATE"'),
    "R0109": (
        "FDA.C.5.6.r",
        "rejection",
        'FDA.C.5.6.r must not be provided when N.2.r.3 = "CDER" or "CBER" and N.1.4 = "ZZFDA"',
    ),
    "W0010": ("D.1", "warning", 'D.1 value must be "AGGREGATE" when C.1.3=2 and C.1.10.r and FDA.C.5.5a is provided'),
    "R0036": (
        "D.8.r.1",
        "rejection",
        "D.8.r.1 must be provided when any other information is provided in Section D.8.r",
    ),
    "R0037": ("D.8.r.6a", "rejection", "D.8.r.6a must be provided when D.8.r.6b is provided with value = <value>"),
    "R0038": ("D.8.r.6b", "rejection", "D.8.r.6b must be provided when D.8.r.6a is provided"),
    "R0039": ("D.8.r.7a", "rejection", "D.8.r.7a must be provided when D.8.r.7b is provided with value = <value>"),
    "R0040": ("D.8.r.7b", "rejection", "D.8.r.7b must be provided when D.8.r.7a is provided"),
    "R0041": (
        "D.9.1",
        "rejection",
        'D.9.1 must be provided when C.1.3 = 2 and N.2.r.3 = "CDER_IND" or "CBER_IND" and E.i.3.2a = ture',
    ),
    "R0042": (
        "D.9.2.r.1a",
        "rejection",
        "D.9.2.r.1a must be provided when D.9.2.r.1b is provided with value = <value>",
    ),
    "R0043": ("D.9.2.r.1b", "rejection", "D.9.2.r.1b must be provided when D.9.2.r.1a is provided"),
    "R0044": ("D.9.2.r.2", "rejection", "D.9.2.r.2 must be provided when D.9.2.r.1a and D.9.2.r.1b is provided"),
    "R0046": (
        "D.9.4.r.1a",
        "rejection",
        "D.9.4.r.1a must be provided when D.9.4.r.1b is provided with value = <value>",
    ),
    "R0047": ("D.9.4.r.1b", "rejection", "D.9.4.r.1b must be provided when D.9.4.r.1a is provided"),
    "R0048": ("D.9.4.r.2", "rejection", "D.9.4.r.2 must be provided when D.9.4.r.1a and D.9.4.r.1b is provided"),
    "R0049": ("D.10.2.2a", "rejection", "D.10.2.2a must be provided when D.10.2.2b is provided"),
    "R0050": ("D.10.2.2b", "rejection", "D.10.2.2b must be provided when D.10.2.2a is provided"),
    "R0051": ("D.10.6", "rejection", "D.10.6 must be provided when any information is provided in Section D.10"),
    "R0052": (
        "D.10.7.1.r.1a",
        "rejection",
        "D.10.7.1.r.1a must be provided when D.10.7.1.r.1b is provided with value = <value>",
    ),
    "R0053": ("D.10.7.1.r.1b", "rejection", "D.10.7.1.r.1b must be provided when D.10.7.1.r.1a is provided"),
    "R0054": (
        "D.10.8.r.6a",
        "rejection",
        "D.10.8.r.6a must be provided when D.10.8.r.6b is provided with value = <value>",
    ),
    "R0055": ("D.10.8.r.6b", "rejection", "D.10.8.r.6b must be provided when D.10.8.r.6a is provided"),
    "R0056": (
        "D.10.8.r.7a",
        "rejection",
        "D.10.8.r.7a must be provided when D.10.8.r.7b is provided with value = <value>",
    ),
    "R0057": ("D.10.8.r.7b", "rejection", "D.10.8.r.7b must be provided when D.10.8.r.7a is provided"),
    "R0058": ("E.i.1.1b", "rejection", "E.i.1.1b must be provided when E.i.1.1a is provided"),
    "R0061": ("F.r.1", "rejection", "F.r.1 must be provided when any of the data element in F.r.2 is provided"),
    "R0062": ("F.r.2.1", "rejection", "F.r.2.1 must be provided when F.r.1 is provided and F.r.2.2b is not provided"),
    "R0063": ("F.r.2.2a", "rejection", "F.r.2.2a must be provided when F.r.2.2b is provided with value = <value>"),
    "R0064": ("F.r.2.2b", "rejection", "F.r.2.2b must be provided when F.r.1 is provided and F.r.2.1 is not provided"),
    "R0065": (
        "F.r.3.1",
        "rejection",
        "At least one of test results (F.r.3.1, F.r.3.2, F.r.3.4) must contain a value when F.r.2.2b is provided.",
    ),
    "R0066": (
        "F.r.3.2",
        "rejection",
        "At least one of test results (F.r.3.1, F.r.3.2, F.r.3.4) must contain a value when F.r.2.2b is provided.",
    ),
    "R0068": (
        "F.r.3.4",
        "rejection",
        "At least one of test results (F.r.3.1, F.r.3.2, F.r.3.4) must contain a value when F.r.2.2b is provided.",
    ),
    "R0070": (
        "G.k.1",
        "rejection",
        'G.k.1 must be provided with Observation Code Value of 1 or 3 when C.1.3 = 2 and N.2.r.3 = "CDER_IND" or "CBER_IND"',
    ),
    "R0071": (
        "G.k.1",
        "rejection",
        'G.k.1 must be provided with Observation Code Value of 1, 3 or 4 when C.1.3 = 2 and N.2.r.3 = "CDER_EXEMPT_BA_BE"',
    ),
    "R0072": (
        "FDA.G.k.1.a",
        "rejection",
        "G.k.1.a must be provided when FDA.C.1.12 = true and FDA.G.k.12.r. = true' and G.k.1 = 4 is provided",
    ),
    "R0114": (
        "G.k.3.1",
        "rejection",
        'G.K.3.1 should not contain “IND” or “PANDA” number when N.1.4 = “ZZFDA” and N.2.r.3 = "CDER" and C.1.3=2 and C.5.4=2 or 3',
    ),
    "R0085": ("G.k.9.i.2.r.1", "rejection", "G.k.9.i.2.r.1 must be provided when C.1.3 = 2 and FDA.C.5.5a is provided"),
    "R0086": ("G.k.9.i.2.r.2", "rejection", "G.k.9.i.2.r.2 must be provided when C.1.3 = 2 and FDA.C.5.5a is provided"),
    "R0087": ("G.k.9.i.2.r.3", "rejection", "G.k.9.i.2.r.3 must be provided when C.1.3 = 2 and FDA.C.5.5a is provided"),
    "R0095": (
        "FDA.G.k.12.r.5",
        "rejection",
        "FDA.G.k.12.r.4 and/or FDA.G.k.12.r.5 must be provided when FDA.C.1.12 = true",
    ),
    "R0096": (
        "FDA.G.k.12.r.6",
        "rejection",
        "FDA.G.k.12.r.6 must be provided when FDA.G.k.12.r.4 and FDA.G.k.12.r.5 are not provided",
    ),
}


@dataclass(frozen=True)
class RuleViolation:
    """One broken business rule: FDA's rule id, element, severity and message, for one report."""

    rule_id: str
    element: str
    severity: str
    message: str
    safety_report_id: str


def _code(c: Code | None) -> str | None:
    return c.code if c is not None else None


def _given(v: object) -> bool:
    return v is not None and not isinstance(v, Null)


def _half(q: Quantity | None) -> tuple[bool, bool]:
    """(value given, unit given) of a quantity that is present without a nullFlavor."""
    if q is None or q.null_flavor:
        return True, True
    return q.value is not None, q.unit is not None


def _mismatch(qs: Iterable[Quantity | None], want_value: bool) -> bool:
    return any((not v if want_value else not u) for v, u in (_half(q) for q in qs))


def _meddra_half(cs: Iterable[Code | None], want_version: bool) -> bool:
    for c in cs:
        if c is None or c.null_flavor:
            continue
        if want_version and c.code is not None and c.version is None:
            return True
        if not want_version and c.version is not None and c.code is None and c.original_text is None:
            return True
    return False


_Check = Callable[[IcsrCase, str], bool]


def _route(case: IcsrCase) -> str:
    return case.message_receiver or ""


def _ind(case: IcsrCase) -> bool:
    return case.study is not None and bool(case.study.fda_ind)


def _anda(case: IcsrCase) -> bool:
    return case.study is not None and bool(case.study.fda_pre_anda)


def _meds(case: IcsrCase) -> list[Code | None]:
    return [m.condition for m in case.patient.medical_history]


def _qty(case: IcsrCase) -> dict[str, list[Quantity | None]]:
    drugs = case.drugs
    return {
        "age": [case.patient.age],
        "gest": [case.patient.gestation],
        "reac_dur": [r.duration for r in case.reactions],
        "strength": [i.strength for d in drugs for i in d.ingredients],
        "dose": [x.dose for d in drugs for x in d.dosages],
        "period": [x.period for d in drugs for x in d.dosages],
        "dose_dur": [x.duration for d in drugs for x in d.dosages],
        "cumulative": [d.cumulative_dose for d in drugs],
        "gest_exp": [d.gestation_at_exposure for d in drugs],
        "start_int": [a.start_interval for d in drugs for a in d.assessments],
        "last_int": [a.last_dose_interval for d in drugs for a in d.assessments],
    }


def _local(case: IcsrCase) -> str | None:
    return _code(case.fda_local_criteria)


def _combo(case: IcsrCase) -> object:
    return case.fda_combination_product


_IND_ROUTES = ("CDER_IND", "CBER_IND")
_NO_DRUG = DrugHistory()


def _study_type(case: IcsrCase) -> str | None:
    return _code(case.study.study_type) if case.study is not None else None


def _aggregate(case: IcsrCase) -> bool:
    """D.1 = "AGGREGATE" (FDA also spells it "AGGREGRATE")."""
    name = case.patient.name
    return isinstance(name, str) and name.strip().upper() in ("AGGREGATE", "AGGREGRATE")


def _death(case: IcsrCase, field: str) -> list[Code | None]:
    death = case.patient.death
    return list(getattr(death, field)) if death is not None else []


def _no_text(causes: list[Code | None]) -> bool:
    """A cause coded with MedDRA code and version but without its free text (D.9.2.r.2, D.9.4.r.2)."""
    return any(c is not None and c.code and c.version and c.original_text is None for c in causes)


def _parent_history(case: IcsrCase) -> list[Code | None]:
    parent = case.patient.parent
    return [m.condition for m in parent.medical_history] if parent is not None else []


def _parent_drugs(case: IcsrCase, field: str) -> list[Code | None]:
    parent = case.patient.parent
    return [getattr(h, field) for h in parent.drug_history] if parent is not None else []


def _no_result(case: IcsrCase) -> bool:
    """A test coded in MedDRA (F.r.2.2b) without any result (F.r.3.1, F.r.3.2, F.r.3.4)."""
    return any(
        _code(t.meddra) is not None and t.result_code is None and t.result is None and t.result_text is None
        for t in case.tests
    )


def _ind_number(value: object) -> bool:
    return isinstance(value, str) and any(w in value.upper() for w in ("IND", "PANDA"))


def _trial_ind(case: IcsrCase) -> bool:
    return _code(case.report_type) == "2" and _ind(case)


def _relatedness_lacks(case: IcsrCase, field: str) -> bool:
    """A suspect drug without an assessment of relatedness, or one without ``field``."""
    for d in case.drugs:
        if _code(d.role) not in ("1", "3"):
            continue
        rel = [x for a in d.assessments for x in a.relatedness]
        if not rel or any(not _given(getattr(x, field)) for x in rel):
            return True
    return False


_CHECKS: dict[str, _Check] = {
    "R0004": lambda c, n14: _route(c) == "CDER" and n14 != "ZZFDA",
    "R0005": lambda c, n14: _route(c) in PREMARKET and n14 != "ZZFDA_PREMKT",
    "R0006": lambda c, n14: n14 == "ZZFDA" and _route(c) != "CDER",
    "R0007": lambda c, n14: n14 == "ZZFDA_PREMKT" and _route(c) not in PREMARKET,
    "R0008": lambda c, n14: (
        n14 == "ZZFDA_PREMKT" and _route(c) in PREMARKET and not _ind(c) and _code(c.report_type) != "2"
    ),
    "R0111": lambda c, n14: (
        n14 == "ZZFDA_PREMKT" and _route(c) == "CDER_IND_EXEMPT_BA_BE" and _code(c.report_type) != "2"
    ),
    "R0112": lambda c, n14: (
        n14 == "ZZFDA_PREMKT" and _route(c) in ("CDER_IND", "CBER_IND") and _code(c.report_type) in ("3", "4")
    ),
    "R0009": lambda c, _: (
        c.additional_documents is True and not any(d.kind == "document" and d.title is not None for d in c.documents)
    ),
    "R0012": lambda c, _: _combo(c) is True and c.expedited is True and _local(c) not in ("1", "4"),
    "R0013": lambda c, _: _combo(c) is True and c.expedited is not True and _local(c) not in ("2", "5"),
    "R0014": lambda c, _: _combo(c) is not True and c.expedited is True and _local(c) != "1",
    "R0015": lambda c, _: _combo(c) is not True and c.expedited is False and _local(c) != "2",
    "R0017": lambda c, _: c.other_ids_exist is True and not c.other_ids,
    "R0019": lambda c, _: any(p.regulatory and p.person.country is None for p in c.primary_sources),
    "R0020": lambda c, _: any(p.regulatory and p.qualification is None for p in c.primary_sources),
    "R0021": lambda c, _: not any(p.regulatory for p in c.primary_sources),
    "R0022": lambda c, _: (
        c.sender is not None
        and _code(c.sender.type) in ("1", "2", "3", "4", "5", "6")
        and c.sender.person.organisation is None
    ),
    "R0023": lambda c, _: _code(c.report_type) == "2" and (c.study is None or c.study.study_type is None),
    "R0024": lambda c, _: _code(c.report_type) in ("1", "2") and _route(c) in ("CDER_IND", "CBER_IND") and not _ind(c),
    "R0025": lambda c, _: _code(c.report_type) == "2" and _route(c) == "CDER_IND_EXEMPT_BA_BE" and not _anda(c),
    "R0107": lambda c, n14: n14 == "ZZFDA" and _route(c) in ("CDER", "CBER") and _ind(c),
    "R0108": lambda c, n14: n14 == "ZZFDA" and _route(c) in ("CDER", "CBER") and _anda(c),
    "R0029": lambda c, _: _mismatch(_qty(c)["age"], True),
    "R0030": lambda c, _: _mismatch(_qty(c)["age"], False),
    "R0031": lambda c, _: _mismatch(_qty(c)["gest"], True),
    "R0032": lambda c, _: _mismatch(_qty(c)["gest"], False),
    "R0033": lambda c, _: _meddra_half(_meds(c), True),
    "R0034": lambda c, _: _meddra_half(_meds(c), False),
    "R0035": lambda c, _: not c.patient.medical_history and c.patient.history_text is None,
    "R0045": lambda c, _: (
        c.patient.death is not None and _given(c.patient.death.date) and c.patient.death.autopsy is None
    ),
    "R0059": lambda c, _: _mismatch(_qty(c)["reac_dur"], True),
    "R0060": lambda c, _: _mismatch(_qty(c)["reac_dur"], False),
    "R0067": lambda c, _: any(
        t.result is not None and t.result.type == "PQ" and t.result.value is not None and t.result.unit is None
        for t in c.tests
    ),
    "R0069": lambda c, _: _route(c) == "CDER" and not any(_code(d.role) in ("1", "3", "4") for d in c.drugs),
    "W0005": lambda c, _: bool(c.drugs) and _code(c.drugs[0].role) not in ("1", "3", "4"),
    "R0073": lambda c, _: _mismatch(_qty(c)["strength"], False),
    "R0074": lambda c, _: any(_given(d.authorisation_number) and d.authorisation_country is None for d in c.drugs),
    "R0075": lambda c, _: _mismatch(_qty(c)["dose"], False),
    "R0076": lambda c, _: _mismatch(_qty(c)["period"], False),
    "R0077": lambda c, _: _mismatch(_qty(c)["dose_dur"], True),
    "R0078": lambda c, _: _mismatch(_qty(c)["dose_dur"], False),
    "R0079": lambda c, _: _mismatch(_qty(c)["cumulative"], True),
    "R0080": lambda c, _: _mismatch(_qty(c)["cumulative"], False),
    "R0081": lambda c, _: _mismatch(_qty(c)["gest_exp"], True),
    "R0082": lambda c, _: _mismatch(_qty(c)["gest_exp"], False),
    "R0083": lambda c, _: _meddra_half([i for d in c.drugs for i in d.indications], True),
    "R0084": lambda c, _: _meddra_half([i for d in c.drugs for i in d.indications], False),
    "R0088": lambda c, _: _mismatch(_qty(c)["start_int"], True),
    "R0089": lambda c, _: _mismatch(_qty(c)["start_int"], False),
    "R0090": lambda c, _: _mismatch(_qty(c)["last_int"], True),
    "R0091": lambda c, _: _mismatch(_qty(c)["last_int"], False),
    "R0093": lambda c, _: any(
        any(
            ch.code.code == "C54026" and ch.value is not None and ch.value.value == "true" for ch in dev.characteristics
        )
        and not any(ch.code.code == "C54451" for ch in dev.characteristics)
        for d in c.drugs
        for dev in d.devices
    ),
    "R0094": lambda c, _: _combo(c) is True and not any(dev.names or dev.code for d in c.drugs for dev in d.devices),
    "R0097": lambda c, _: _meddra_half(c.sender_diagnoses, True),
    "R0098": lambda c, _: _meddra_half(c.sender_diagnoses, False),
    "R0099": lambda c, _: any(lang is None for _, lang in c.summaries),
    # issue 13: the remaining rules a machine can check from the case alone
    "R0110": lambda c, n14: (
        n14 == "ZZFDA_PREMKT"
        and _route(c) in _IND_ROUTES
        and _ind(c)
        and _study_type(c) is None
        and _code(c.report_type) != "1"
    ),
    "R0016": lambda c, _: c.expedited is True and _code(c.report_type) in ("1", "2") and _local(c) not in ("1", "6"),
    "R0018": lambda c, _: any(not ident for _, ident in c.other_ids),
    "R0102": lambda c, n14: (
        n14 == "ZZFDA_PREMKT"
        and _route(c) in PREMARKET
        and _code(c.report_type) == "2"
        and _study_type(c) not in ("1", "2", "3")
    ),
    "R0103": lambda c, _: _code(c.report_type) == "1" and _route(c) == "CDER" and _study_type(c) is not None,
    "R0104": lambda c, n14: (
        n14 == "ZZFDA" and _route(c) == "CDER" and _code(c.report_type) == "2" and _study_type(c) not in ("1", "2", "3")
    ),
    "R0113": lambda c, n14: (
        n14 == "ZZFDA_PREMKT"
        and _route(c) in _IND_ROUTES
        and _code(c.report_type) == "1"
        and _study_type(c) is not None
    ),
    "W0001": lambda c, _: _aggregate(c) and not c.linked_reports,
    "W0002": lambda c, _: _aggregate(c) and _study_type(c) != "1",
    "R0109": lambda c, n14: (
        n14 == "ZZFDA"
        and _route(c) in ("CDER", "CBER")
        and c.study is not None
        and bool(c.study.fda_cross_reported_ind)
    ),
    "W0010": lambda c, _: _code(c.report_type) == "2" and bool(c.linked_reports) and _ind(c) and not _aggregate(c),
    "R0036": lambda c, _: any(h.name is None and h != _NO_DRUG for h in c.patient.drug_history),
    "R0037": lambda c, _: _meddra_half([h.indication for h in c.patient.drug_history], True),
    "R0038": lambda c, _: _meddra_half([h.indication for h in c.patient.drug_history], False),
    "R0039": lambda c, _: _meddra_half([h.reaction for h in c.patient.drug_history], True),
    "R0040": lambda c, _: _meddra_half([h.reaction for h in c.patient.drug_history], False),
    "R0041": lambda c, _: (
        _code(c.report_type) == "2"
        and _route(c) in _IND_ROUTES
        and any(r.death is True for r in c.reactions)
        and (c.patient.death is None or not _given(c.patient.death.date))
    ),
    "R0042": lambda c, _: _meddra_half(_death(c, "reported_causes"), True),
    "R0043": lambda c, _: _meddra_half(_death(c, "reported_causes"), False),
    "R0044": lambda c, _: _no_text(_death(c, "reported_causes")),
    "R0046": lambda c, _: _meddra_half(_death(c, "autopsy_causes"), True),
    "R0047": lambda c, _: _meddra_half(_death(c, "autopsy_causes"), False),
    "R0048": lambda c, _: _no_text(_death(c, "autopsy_causes")),
    "R0049": lambda c, _: _mismatch([c.patient.parent.age] if c.patient.parent else [], True),
    "R0050": lambda c, _: _mismatch([c.patient.parent.age] if c.patient.parent else [], False),
    "R0051": lambda c, _: c.patient.parent is not None and c.patient.parent.sex is None,
    "R0052": lambda c, _: _meddra_half(_parent_history(c), True),
    "R0053": lambda c, _: _meddra_half(_parent_history(c), False),
    "R0054": lambda c, _: _meddra_half(_parent_drugs(c, "indication"), True),
    "R0055": lambda c, _: _meddra_half(_parent_drugs(c, "indication"), False),
    "R0056": lambda c, _: _meddra_half(_parent_drugs(c, "reaction"), True),
    "R0057": lambda c, _: _meddra_half(_parent_drugs(c, "reaction"), False),
    "R0058": lambda c, _: any(_given(r.as_reported) and r.as_reported_language is None for r in c.reactions),
    "R0061": lambda c, _: any((t.name is not None or t.meddra is not None) and t.date is None for t in c.tests),
    "R0062": lambda c, _: any(t.date is not None and t.name is None and _code(t.meddra) is None for t in c.tests),
    "R0063": lambda c, _: _meddra_half([t.meddra for t in c.tests], True),
    "R0064": lambda c, _: any(t.date is not None and t.name is None and t.meddra is None for t in c.tests),
    "R0065": lambda c, _: _no_result(c),
    "R0066": lambda c, _: _no_result(c),
    "R0068": lambda c, _: _no_result(c),
    "R0070": lambda c, _: (
        _code(c.report_type) == "2"
        and _route(c) in _IND_ROUTES
        and not any(_code(d.role) in ("1", "3") for d in c.drugs)
    ),
    "R0071": lambda c, _: (
        _code(c.report_type) == "2"
        and _route(c) == "CDER_IND_EXEMPT_BA_BE"
        and not any(_code(d.role) in ("1", "3", "4") for d in c.drugs)
    ),
    "R0072": lambda c, _: (
        _combo(c) is True and any(_code(d.role) == "4" and d.devices and d.fda_other_role is None for d in c.drugs)
    ),
    "R0114": lambda c, n14: (
        n14 == "ZZFDA"
        and _route(c) == "CDER"
        and _code(c.report_type) == "2"
        and _study_type(c) in ("2", "3")
        and any(_ind_number(d.authorisation_number) for d in c.drugs)
    ),
    "R0085": lambda c, _: _trial_ind(c) and _relatedness_lacks(c, "source"),
    "R0086": lambda c, _: _trial_ind(c) and _relatedness_lacks(c, "method"),
    "R0087": lambda c, _: _trial_ind(c) and _relatedness_lacks(c, "result"),
    "R0095": lambda c, _: _combo(c) is True and not any(dev.names for d in c.drugs for dev in d.devices),
    "R0096": lambda c, _: any(not dev.names and dev.code is None for d in c.drugs for dev in d.devices),
}

FDA_RULE_IDS = tuple(sorted(_CHECKS))


def check_fda_rules(cases: Iterable[IcsrCase], *, batch_receiver: str) -> list[RuleViolation]:
    """Every broken FDA business rule of ``cases`` sent in a batch to ``batch_receiver`` (N.1.4).

    Examples
    --------
    >>> from cgtvigil.model import IcsrCase
    >>> [v.rule_id for v in check_fda_rules([IcsrCase(safety_report_id="US-X-1")], batch_receiver="ZZFDA")][:2]
    ['R0006', 'R0021']
    """
    out = []
    for case in cases:
        for rule_id in FDA_RULE_IDS:
            if _CHECKS[rule_id](case, batch_receiver):
                element, severity, message = _FDA_RULES[rule_id]
                out.append(RuleViolation(rule_id, element, severity, message, case.safety_report_id))
    return out
