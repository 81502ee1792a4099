"""Cross-source duplicate candidates (E2B, FHIR, openFDA, FAERS): two cases that may be one,
found by a shared identifier or by a probabilistic match, stored for a person to confirm or
reject (audited).

- ``identifier``: an id of one case (C.1.8.1, C.1.1 or another sender's id C.1.9.1.r, e.g.
  openFDA's ``companynumb`` or a FAERS case number) is an id of the other: score 1.
- ``probabilistic``: cases sharing a suspect drug are compared field by field, agreement
  weights in the manner of Fellegi-Sunter but fixed, not estimated (UNCONFIRMED calibration):
  age within a year (1), sex (1), reaction start date (day 2, month 1), country (1), suspect
  drugs (2 x Jaccard overlap) and reactions (3 x Jaccard overlap); the score is the weight
  that agreed over the weight of the fields known in both. A pair scores only when at least
  four fields are known in both; candidates are kept from ``threshold`` (0.75) up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.audit import append_audit
from cgtvigil.errors import NotFoundError, NotInScopeError, ValidationError
from cgtvigil.model import IcsrCase, Quantity, normalise_name
from cgtvigil.store import MAX_ROW_ID, CaseMatchRow, Scope

__all__ = ["MatchCandidate", "MatchRecord", "decide_match", "find_matches", "match_record", "store_matches"]

MAX_BLOCK = 5000  # a drug shared by more cases than this is not a blocking key (a very common drug)
_AGE_YEARS = {"a": 1.0, "10.a": 10.0, "mo": 1 / 12, "wk": 1 / 52.1775, "d": 1 / 365.25, "h": 1 / 8766}


@dataclass(frozen=True)
class MatchRecord:
    """What the matcher compares of one case."""

    case_id: str
    source: str
    ids: frozenset[str]
    age_years: float | None = None
    sex: str | None = None
    event_date: str | None = None  # CCYYMM[DD]
    country: str | None = None
    drugs: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()


class MatchCandidate(BaseModel):
    case_a: str
    source_a: str
    case_b: str
    source_b: str
    method: Literal["identifier", "probabilistic"]
    score: float
    fields: dict[str, str]


def _age(q: Quantity | None) -> float | None:
    if q is None or q.value is None or q.unit not in _AGE_YEARS:
        return None
    try:
        return float(q.value) * _AGE_YEARS[q.unit]
    except ValueError:
        return None


def match_record(case: IcsrCase, source: str) -> MatchRecord:
    """The matcher's view of a canonical case."""
    starts = sorted(r.start[:8] for r in case.reactions if isinstance(r.start, str) and len(r.start) >= 6)
    sex = case.patient.sex.code if case.patient.sex is not None else None
    country = next(
        (r.country.code for r in case.reactions if r.country is not None and r.country.code),
        next((p.person.country.code for p in case.primary_sources if p.person.country and p.person.country.code), None),
    )
    drugs = {
        normalise_name(n)
        for d in case.drugs
        if d.suspect
        for n in (d.name, *(i.name for i in d.ingredients))
        if isinstance(n, str) and n.strip()
    }
    events = set()
    for r in case.reactions:
        for t in (r.meddra.display if r.meddra else None, r.as_reported, r.meddra.code if r.meddra else None):
            if isinstance(t, str) and t.strip():
                events.add(t.strip().upper())
                break
    ids = {case.case_id, case.safety_report_id, *(v for _, v in case.other_ids if v)}
    return MatchRecord(
        case_id=case.case_id,
        source=source,
        ids=frozenset(ids),
        age_years=_age(case.patient.age),
        sex=sex if sex in ("1", "2") else None,
        event_date=starts[0] if starts else None,
        country=country,
        drugs=frozenset(drugs),
        events=frozenset(events),
    )


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _compare(a: MatchRecord, b: MatchRecord) -> tuple[float, dict[str, str], int]:
    fields: dict[str, str] = {}
    got = total = 0.0
    known = 0

    def field(name: str, weight: float, present: bool, agreement: float) -> None:
        nonlocal got, total, known
        if not present:
            fields[name] = "missing"
            return
        known += 1
        total += weight
        got += weight * agreement
        fields[name] = "agree" if agreement >= 1 else ("partial" if agreement > 0 else "disagree")

    field(
        "age",
        1,
        a.age_years is not None and b.age_years is not None,
        float(a.age_years is not None and b.age_years is not None and abs(a.age_years - b.age_years) <= 1),
    )
    field("sex", 1, bool(a.sex and b.sex), float(a.sex == b.sex))
    if a.event_date and b.event_date:
        same_day = len(a.event_date) >= 8 and a.event_date[:8] == b.event_date[:8]
        field("event_date", 2, True, 1.0 if same_day else (0.5 if a.event_date[:6] == b.event_date[:6] else 0.0))
    else:
        field("event_date", 2, False, 0)
    field("country", 1, bool(a.country and b.country), float(a.country == b.country))
    field("drugs", 2, bool(a.drugs and b.drugs), _jaccard(a.drugs, b.drugs))
    field("reactions", 3, bool(a.events and b.events), _jaccard(a.events, b.events))
    return (got / total if total else 0.0), fields, known


def find_matches(records: Iterable[MatchRecord], *, threshold: float = 0.75) -> list[MatchCandidate]:
    """Candidate pairs of cases from different sources, best first.

    Examples
    --------
    >>> a = MatchRecord("US-1", "e2b", frozenset({"US-1"}), 40, "1", "20240105", "US",
    ...                 frozenset({"KYMRIAH"}), frozenset({"CYTOKINE RELEASE SYNDROME"}))
    >>> b = MatchRecord("998", "openfda", frozenset({"998", "US-1"}), 40, "1", "20240105", "US")
    >>> c = MatchRecord("999", "openfda", frozenset({"999"}), 41, "1", "20240105", "US",
    ...                 frozenset({"KYMRIAH"}), frozenset({"CYTOKINE RELEASE SYNDROME"}))
    >>> [(m.case_a, m.case_b, m.method, round(m.score, 2)) for m in find_matches([a, b, c])]
    [('US-1', '998', 'identifier', 1.0), ('US-1', '999', 'probabilistic', 1.0)]
    """
    recs = list(records)
    by_id: dict[str, list[int]] = defaultdict(list)
    by_drug: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(recs):
        for x in r.ids:
            by_id[x].append(i)
        for d in r.drugs:
            by_drug[d].append(i)
    out: dict[tuple[str, str], MatchCandidate] = {}

    def key(i: int, j: int) -> tuple[MatchRecord, MatchRecord] | None:
        a, b = recs[i], recs[j]
        if a.case_id == b.case_id or a.source == b.source:
            return None
        return (a, b) if (a.source, a.case_id) < (b.source, b.case_id) else (b, a)

    for ident, members in by_id.items():
        for n, i in enumerate(members):
            for j in members[n + 1 :]:
                if (pair := key(i, j)) is not None:
                    a, b = pair
                    out[(a.case_id, b.case_id)] = MatchCandidate(
                        case_a=a.case_id,
                        source_a=a.source,
                        case_b=b.case_id,
                        source_b=b.source,
                        method="identifier",
                        score=1.0,
                        fields={"identifier": ident},
                    )
    seen: set[tuple[int, int]] = set()
    for members in by_drug.values():
        if len(members) > MAX_BLOCK:
            continue
        for n, i in enumerate(members):
            for j in members[n + 1 :]:
                if (i, j) in seen or (pair := key(i, j)) is None:
                    continue
                seen.add((i, j))
                a, b = pair
                if (a.case_id, b.case_id) in out:
                    continue
                score, fields, known = _compare(a, b)
                if known >= 4 and score >= threshold:
                    out[(a.case_id, b.case_id)] = MatchCandidate(
                        case_a=a.case_id,
                        source_a=a.source,
                        case_b=b.case_id,
                        source_b=b.source,
                        method="probabilistic",
                        score=round(score, 4),
                        fields=fields,
                    )
    return sorted(out.values(), key=lambda m: (-m.score, m.case_a, m.case_b))


def store_matches(session: Session, candidates: list[MatchCandidate], *, actor: str, at: datetime) -> int:
    """Store new candidates as ``proposed`` (a pair already stored keeps its decision); audited.
    Returns the number of new pairs. The caller commits."""
    existing = {(r.case_a, r.case_b) for r in session.execute(select(CaseMatchRow.case_a, CaseMatchRow.case_b))}
    new = 0
    for m in candidates:
        if (m.case_a, m.case_b) in existing:
            continue
        session.add(
            CaseMatchRow(
                case_a=m.case_a,
                source_a=m.source_a,
                case_b=m.case_b,
                source_b=m.source_b,
                method=m.method,
                score=m.score,
                fields=m.fields,
                status="proposed",
                found_at=at,
                note="",
            )
        )
        new += 1
    session.flush()
    append_audit(
        session,
        actor=actor,
        action="case_match.find",
        target="case_match",
        at=at,
        detail={"candidates": len(candidates), "new": new},
    )
    return new


def decide_match(
    session: Session, scope: Scope, match_id: int, decision: str, *, at: datetime, note: str = ""
) -> CaseMatchRow:
    """Confirm or reject a candidate (a person's decision, audited). The caller commits."""
    if decision not in ("confirmed", "rejected"):
        raise ValidationError([f"The 'decision' parameter must be 'confirmed' or 'rejected'. Got {decision!r}."])
    if scope.cases != frozenset():
        raise NotInScopeError("deciding duplicate candidates is not in this account's scope (administrators)")
    row = session.get(CaseMatchRow, match_id) if 0 < match_id <= MAX_ROW_ID else None
    if row is None:
        raise NotFoundError(f"no duplicate candidate {match_id}")
    row.status, row.decided_by, row.decided_at, row.note = decision, scope.actor, at, note[:2000]
    append_audit(
        session,
        actor=scope.actor,
        action=f"case_match.{decision[:-2]}",
        target=f"case_match:{match_id}",
        at=at,
        detail={"case_a": row.case_a, "case_b": row.case_b, "score": row.score, "note": note[:200]},
    )
    return row
