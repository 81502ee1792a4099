"""Seriousness and expectedness of a case's reactions (ICH E2A; domain.md §8.1).

Seriousness comes from the six E2B criteria (and FDA's required intervention) as reported;
severity (intensity, e.g. a CTCAE grade or FHIR's mild/moderate/severe) is kept apart and never
makes a reaction serious. Expectedness is decided against the reference safety information of
each suspect CGT product: a reaction is expected when its MedDRA term name (or the term as
reported) is one of the product's expected events, directly or through a safety topic; it is
``None`` (unknown) when no suspect drug is a product with reference safety information."""

from __future__ import annotations

from pydantic import BaseModel, Field

from cgtvigil.model import (
    IcsrCase,
    ProductDictionary,
    Reaction,
    ReferenceSafetyInformation,
    TopicSet,
    normalise_name,
)

__all__ = ["CRITERIA", "CaseAssessment", "ReactionAssessment", "Reference", "assess_case", "suspect_products"]

CRITERIA = (
    "death",
    "life_threatening",
    "hospitalisation",
    "disabling",
    "congenital_anomaly",
    "medically_important",
    "required_intervention",
)


class Reference(BaseModel):
    """The data an assessment uses, with their versions (stored beside every result)."""

    products: ProductDictionary
    rsi: ReferenceSafetyInformation
    topics: TopicSet

    def versions(self) -> dict[str, str]:
        return {"products": self.products.version, "rsi": self.rsi.version, "topics": self.topics.version}


class ReactionAssessment(BaseModel):
    term: str = Field(description="the MedDRA term name, else the term as reported, else the code")
    serious: bool
    criteria: list[str] = Field(description="the seriousness criteria that are true")
    severity: str | None = Field(None, description="severity as reported (not seriousness)")
    expected: bool | None = Field(description="None: no suspect product with reference safety information")
    expected_by: list[str] = Field(default_factory=list, description="product: source of each RSI entry matched")
    unconfirmed: bool = Field(False, description="expected only through RSI entries not checked against the label")
    fatal_or_life_threatening: bool


class CaseAssessment(BaseModel):
    products: list[str] = Field(description="product dictionary ids of the suspect drugs")
    serious: bool
    unexpected_serious: bool = Field(description="a serious reaction unexpected for a suspect product (or unknown)")
    fatal_or_life_threatening: bool
    study: bool = Field(description="C.1.3 = 2 (report from a study)")
    countries: list[str] = Field(
        default_factory=list,
        description="where the reactions occurred (E.i.9), else the reporters' (C.2.r.3)",
    )
    reactions: list[ReactionAssessment]
    reference_versions: dict[str, str]


def suspect_products(case: IcsrCase, products: ProductDictionary) -> list[str]:
    """Product ids of the case's suspect and interacting drugs (name, ingredients, product code)."""
    index = products.name_index()
    found: list[str] = []
    for d in case.drugs:
        if not d.suspect:
            continue
        names = [d.name, *(i.name for i in d.ingredients)]
        if d.product_code is not None:
            names += [d.product_code.display, d.product_code.original_text]
        for n in names:
            if isinstance(n, str) and (pid := index.get(normalise_name(n))) and pid not in found:
                found.append(pid)
    return found


def _countries(case: IcsrCase) -> list[str]:
    def codes(values: list[object]) -> list[str]:
        out: list[str] = []
        for v in values:
            code = getattr(v, "code", None)
            if isinstance(code, str) and code.strip() and code.strip().upper() not in out:
                out.append(code.strip().upper())
        return out

    return codes([r.country for r in case.reactions]) or codes([s.person.country for s in case.primary_sources])


def _term(r: Reaction) -> str:
    for t in (r.meddra.display if r.meddra else None, r.translation, r.as_reported):
        if isinstance(t, str) and t.strip():
            return t.strip()
    return r.meddra.code if r.meddra and r.meddra.code else ""


def assess_case(case: IcsrCase, reference: Reference) -> CaseAssessment:
    """Seriousness and expectedness of each reaction of ``case``.

    Examples
    --------
    >>> from cgtvigil.model import Code, Drug, Reaction
    >>> from cgtvigil.store import load_products, load_safety_info, load_topics
    >>> ref = Reference(products=load_products(), rsi=load_safety_info(), topics=load_topics())
    >>> case = IcsrCase(
    ...     safety_report_id="R1",
    ...     drugs=(Drug(role=Code(code="1"), name="KYMRIAH"),),
    ...     reactions=(Reaction(as_reported="Cytokine release syndrome", hospitalisation=True),
    ...                Reaction(as_reported="Alopecia", death=True)),
    ... )
    >>> a = assess_case(case, ref)
    >>> [(r.expected, r.serious) for r in a.reactions], a.unexpected_serious, a.fatal_or_life_threatening
    ([(True, True), (False, True)], True, True)
    """
    pids = suspect_products(case, reference.products)
    topic_terms = {t.id: t.keys() for t in reference.topics.topics}
    expected_terms: dict[str, list[tuple[str, bool]]] = {}  # PT key -> (product: source, confirmed)
    covered = False
    for pid in pids:
        info = reference.rsi.for_product(pid)
        if info is None:
            continue
        covered = True
        for x in info.expected:
            keys = topic_terms.get(x.topic, set()) if x.topic else {str(x.pt).strip().upper()}
            for k in keys:
                expected_terms.setdefault(k, []).append((f"{pid}: {x.source}", x.confirmed))
    out = []
    for r in case.reactions:
        term = _term(r)
        hits = expected_terms.get(term.upper(), [])
        criteria = [c for c in CRITERIA if getattr(r, c) is True]
        sev = r.severity
        out.append(
            ReactionAssessment(
                term=term,
                serious=bool(criteria),
                criteria=criteria,
                severity=(sev.display or sev.code or sev.original_text) if sev is not None else None,
                expected=bool(hits) if covered else None,
                expected_by=[h[0] for h in hits],
                unconfirmed=bool(hits) and not any(h[1] for h in hits),
                fatal_or_life_threatening=r.death is True or r.life_threatening is True,
            )
        )
    return CaseAssessment(
        products=pids,
        serious=any(r.serious for r in out),
        unexpected_serious=any(r.serious and r.expected is not True for r in out),
        fatal_or_life_threatening=any(r.fatal_or_life_threatening for r in out),
        study=case.report_type is not None and case.report_type.code == "2",
        countries=_countries(case),
        reactions=out,
        reference_versions=reference.versions(),
    )
