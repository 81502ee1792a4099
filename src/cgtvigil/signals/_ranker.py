"""A learned, explained ranking of (drug, event) pairs (vigiRank-like).

``SignalRanker`` learns the probability that a pair is a true adverse reaction from features
of the pair (disproportionality, recency, spread, completeness, ...; see
``screening.pair_features``) and a labelled reference set. Two models:

- ``logistic`` (the default): L2-penalised logistic regression on standardised features, as
  vigiRank (Caster et al., Drug Saf 2014;37:617-628) is a regularised logistic model. Each
  pair's explanation is exact: the contribution of feature j is coef_j * (x_j - mean_j) / sd_j,
  and the contributions plus the intercept are the pair's log-odds.
- ``gbm``: scikit-learn's ``HistGradientBoostingClassifier`` (depth 3) with sigmoid
  calibration (``CalibratedClassifierCV``, 3 folds). Its explanation is by occlusion: the
  change in log-odds when feature j is set to its training mean (an approximation; the
  contributions need not add up to the log-odds).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cgtvigil._validation import Problems, check_in, param_message
from cgtvigil.errors import ValidationError

__all__ = ["SignalRanker"]

Model = Literal["logistic", "gbm"]
_OWNER = "SignalRanker"


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    q = np.clip(p, 1e-12, 1 - 1e-12)
    out: NDArray[np.float64] = np.log(q / (1 - q))
    return out


class SignalRanker:
    """Rank pairs by the learned probability of being a true adverse reaction.

    Parameters
    ----------
    model : {"logistic", "gbm"}
        Penalised logistic regression (interpretable, the default) or gradient boosting.
    C : float
        Inverse L2 penalty of the logistic model (smaller: stronger shrinkage).
    random_state : int
        Seed of the gradient boosting and its calibration folds.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)); y = (X[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(int)
    >>> r = SignalRanker().fit(X, y, feature_names=["strong", "noise"])
    >>> bool(r.coef_[0] > abs(r.coef_[1]))
    True
    >>> r.explain(X[:1]).shape
    (1, 2)
    """

    def __init__(self, *, model: Model = "logistic", C: float = 1.0, random_state: int = 0) -> None:
        self.model = model
        self.C = C
        self.random_state = random_state

    def _check(self, X: ArrayLike, y: ArrayLike | None, names: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
        problems = Problems()
        check_in(self.model, "model", _OWNER, ("logistic", "gbm"), problems)
        if not isinstance(self.C, int | float) or isinstance(self.C, bool) or not self.C > 0:
            problems.add(param_message("C", _OWNER, "a float > 0", self.C))
        x = np.asarray(X, dtype=float)
        if x.ndim != 2 or x.shape[0] == 0:
            problems.add(param_message("X", f"{_OWNER}.fit", "a non-empty 2-D array (pairs x features)", x.shape))
        elif not np.isfinite(x).all():
            problems.add(f"The 'X' parameter of {_OWNER}.fit has {int((~np.isfinite(x)).sum())} missing or "
                         "infinite values; every pair needs every feature.")  # fmt: skip
        target = np.asarray(y if y is not None else [], dtype=float)
        if y is not None:
            if target.shape != (x.shape[0] if x.ndim == 2 else -1,):
                problems.add(
                    param_message("y", f"{_OWNER}.fit", f"one label per row of X ({x.shape[0]})", target.shape)
                )
            elif not np.isin(target, (0, 1)).all():
                problems.add(param_message("y", f"{_OWNER}.fit", "labels 0 or 1", sorted(set(target.tolist()))[:5]))
            elif min(int(target.sum()), int((1 - target).sum())) < 2:
                problems.add(
                    f"{_OWNER}.fit needs at least 2 positive and 2 negative pairs; got {int(target.sum())} "
                    f"positive and {int((1 - target).sum())} negative."
                )
        if names is not None and x.ndim == 2 and len(names) != x.shape[1]:
            problems.add(param_message("feature_names", f"{_OWNER}.fit", f"{x.shape[1]} names", len(names)))
        problems.raise_if_any()
        return x, target.astype(int)

    def fit(self, X: ArrayLike, y: ArrayLike, *, feature_names: list[str]) -> SignalRanker:
        """Learn from labelled pairs (1: true adverse reaction, 0: negative control)."""
        x, target = self._check(X, y, list(feature_names))
        self.feature_names_ = list(feature_names)
        self.mean_ = x.mean(axis=0)
        sd = x.std(axis=0)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        self.n_positive_ = int(target.sum())
        self.n_negative_ = int(len(target) - target.sum())
        if self.model == "logistic":
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=float(self.C), max_iter=5000)
            lr.fit((x - self.mean_) / self.scale_, target)
            self.coef_ = np.asarray(lr.coef_[0], dtype=float)
            self.intercept_ = float(lr.intercept_[0])
        else:
            from sklearn.calibration import CalibratedClassifierCV
            from sklearn.ensemble import HistGradientBoostingClassifier

            gbm = HistGradientBoostingClassifier(max_depth=3, max_iter=200, learning_rate=0.05, min_samples_leaf=5,
                                                 l2_regularization=1.0, random_state=self.random_state)  # fmt: skip
            folds = min(3, self.n_positive_, self.n_negative_)
            self.estimator_ = CalibratedClassifierCV(gbm, method="sigmoid", cv=folds).fit(x, target)
        return self

    def _fitted(self) -> None:
        if not hasattr(self, "mean_"):
            raise ValidationError([f"This {_OWNER} is not fitted yet: call fit() first."])

    def _x(self, X: ArrayLike) -> np.ndarray:
        self._fitted()
        x = np.asarray(X, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(self.feature_names_) or not np.isfinite(x).all():
            raise ValidationError(
                [f"{_OWNER}: X must be finite with {len(self.feature_names_)} columns "
                 f"({', '.join(self.feature_names_)}). Got shape {x.shape}."]
            )  # fmt: skip
        return x

    def decision_function(self, X: ArrayLike) -> NDArray[np.float64]:
        """Log-odds of a true adverse reaction, per pair."""
        x = self._x(X)
        if self.model == "logistic":
            out: NDArray[np.float64] = self.intercept_ + ((x - self.mean_) / self.scale_) @ self.coef_
            return out
        return _logit(self.estimator_.predict_proba(x)[:, 1])

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Probability of a true adverse reaction, per pair."""
        out: NDArray[np.float64] = 1 / (1 + np.exp(-self.decision_function(X)))
        return out

    def explain(self, X: ArrayLike) -> NDArray[np.float64]:
        """Contribution of each feature to each pair's log-odds (pairs x features)."""
        x = self._x(X)
        if self.model == "logistic":
            out: NDArray[np.float64] = ((x - self.mean_) / self.scale_) * self.coef_
            return out
        full = self.decision_function(x)
        contrib = np.empty_like(x)
        for j in range(x.shape[1]):
            held = x.copy()
            held[:, j] = self.mean_[j]
            contrib[:, j] = full - self.decision_function(held)
        return contrib

    def to_dict(self) -> dict[str, Any]:
        """The fitted logistic model as plain JSON-able data (gradient boosting is not stored)."""
        self._fitted()
        if self.model != "logistic":
            raise ValidationError(
                ["Only the logistic model is stored (as plain coefficients); evaluate gradient boosting, "
                 "fit and predict with the logistic model."]
            )  # fmt: skip
        return {
            "model": "logistic", "C": self.C, "feature_names": self.feature_names_,
            "mean": self.mean_.tolist(), "scale": self.scale_.tolist(), "coef": self.coef_.tolist(),
            "intercept": self.intercept_, "n_positive": self.n_positive_, "n_negative": self.n_negative_,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignalRanker:
        """A fitted logistic ranker from :meth:`to_dict`'s output."""
        try:
            r = cls(model="logistic", C=float(data["C"]))
            r.feature_names_ = [str(n) for n in data["feature_names"]]
            r.mean_, r.scale_, r.coef_ = (np.asarray(data[k], dtype=float) for k in ("mean", "scale", "coef"))
            r.intercept_ = float(data["intercept"])
            r.n_positive_, r.n_negative_ = int(data["n_positive"]), int(data["n_negative"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError([f"The ranking model is not a stored logistic SignalRanker: {exc!r}."]) from exc
        k = len(r.feature_names_)
        if data.get("model") != "logistic" or not (len(r.mean_) == len(r.scale_) == len(r.coef_) == k):
            raise ValidationError(["The ranking model is not a stored logistic SignalRanker (shapes disagree)."])
        return r
