"""Pure clonal-diversity maths for integration-site data (issue 12): diversity indexes, common
insertion sites, expansion (L1).
"""

from cgtvigil.clonality._cis import CisGene, CisResult, cis_grubbs
from cgtvigil.clonality._collisions import CollisionDecision, CollisionItem, CollisionResult, resolve_collisions
from cgtvigil.clonality._diversity import CloneDiversity, clone_diversity
from cgtvigil.clonality._expansion import Expansion, ExpansionRule, find_expansions
from cgtvigil.clonality._genes import GeneIndex, GeneSpan
from cgtvigil.clonality._sharing import Sharing, cumulative_is, is_sharing

__all__ = [
    "CisGene",
    "CisResult",
    "CloneDiversity",
    "CollisionDecision",
    "CollisionItem",
    "CollisionResult",
    "Expansion",
    "ExpansionRule",
    "GeneIndex",
    "GeneSpan",
    "Sharing",
    "cis_grubbs",
    "clone_diversity",
    "cumulative_is",
    "find_expansions",
    "is_sharing",
    "resolve_collisions",
]
