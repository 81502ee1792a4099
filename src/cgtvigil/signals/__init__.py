"""Disproportionality statistics: pure, vectorised closed forms and the MGPS prior fitter."""

from cgtvigil.signals._ebgm import (
    EBGMResult,
    GammaMixturePrior,
    GammaMixturePriorFitter,
    ebgm,
    prior_log_likelihood,
)
from cgtvigil.signals._ic import ICResult, information_component
from cgtvigil.signals._maxsprt import (
    MaxSPRTBoundary,
    MaxSPRTPerformance,
    SequentialTestResult,
    binomial_llr,
    maxsprt_alpha_spending,
    maxsprt_binomial_cv,
    maxsprt_performance,
    maxsprt_poisson_cv,
    poisson_llr,
    sequential_test,
)
from cgtvigil.signals._prr import PRRResult, chi_square, prr
from cgtvigil.signals._ranker import SignalRanker
from cgtvigil.signals._ranking_eval import RankingEvaluation, evaluate_ranking, precision_at_k, ranking_metrics
from cgtvigil.signals._ror import RORResult, ror
from cgtvigil.signals._squash import SquashedPoints, auto_squash, squash
from cgtvigil.signals._table import ContingencyTables
from cgtvigil.signals._thresholds import RULES_VERSION, THRESHOLD_RULES, ThresholdRule, apply_threshold_rules
from cgtvigil.signals._tto import (
    HAZARD_READINGS,
    OnsetComparison,
    WeibullOnsetFitter,
    compare_onsets,
    hazard_reading,
)

__all__ = [
    "HAZARD_READINGS",
    "RULES_VERSION",
    "THRESHOLD_RULES",
    "ContingencyTables",
    "EBGMResult",
    "GammaMixturePrior",
    "GammaMixturePriorFitter",
    "ICResult",
    "MaxSPRTBoundary",
    "MaxSPRTPerformance",
    "OnsetComparison",
    "PRRResult",
    "RORResult",
    "RankingEvaluation",
    "SequentialTestResult",
    "SignalRanker",
    "SquashedPoints",
    "ThresholdRule",
    "WeibullOnsetFitter",
    "apply_threshold_rules",
    "auto_squash",
    "binomial_llr",
    "chi_square",
    "compare_onsets",
    "ebgm",
    "evaluate_ranking",
    "hazard_reading",
    "information_component",
    "maxsprt_alpha_spending",
    "maxsprt_binomial_cv",
    "maxsprt_performance",
    "maxsprt_poisson_cv",
    "poisson_llr",
    "precision_at_k",
    "prior_log_likelihood",
    "prr",
    "ranking_metrics",
    "ror",
    "sequential_test",
    "squash",
]
