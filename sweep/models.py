"""Models on real data: full-batch gradient descent on a weight vector.

Two models, each on a dataset scikit-learn ships (no download) or on a user's CSV:

- ``mse-linear``: linear regression, loss (1/n) * ||X w - y||**2, on the diabetes data;
- ``logloss-logistic``: logistic regression, loss (1/n) * sum(log(1 + exp(z)) - y z) with
  z = X w, on the breast-cancer data.

Features are standardized (mean 0, standard deviation 1) and a column of ones is added for
the intercept; a regression target is standardized too, so losses are O(1). Every weight
starts at the sweep's scalar w0.

Theory: the MSE loss has the constant Hessian (2/n) X^T X; with L its largest eigenvalue,
gradient descent converges iff lr < 2/L (Nesterov 2004, sec. 1.2.3). Log loss has Hessian
(1/n) X^T diag(p (1 - p)) X at each w; its largest eigenvalue L(w0) at the starting point
gives the local bound 2/L(w0), drawn per w0 (a guide, not a guarantee: the curvature changes
along the path).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MODELS = {"mse-linear": "diabetes", "logloss-logistic": "breast-cancer"}
DATASETS = ("diabetes", "breast-cancer")


class ModelError(ValueError):
    """A model or dataset that cannot be used; the message names it and what is allowed."""


@dataclass(frozen=True, eq=False)
class Model:
    """A model and its data, ready for the model kernel.

    Attributes:
        name: ``"mse-linear"`` or ``"logloss-logistic"``.
        dataset: ``"diabetes"``, ``"breast-cancer"`` or a CSV path.
        X: (n, d) float64 standardized features with a final column of ones.
        y: (n,) float64 targets (standardized for regression, 0/1 for classification).
        feature_names: d names, the last ``"intercept"``.
    """

    name: str
    dataset: str
    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    feature_names: tuple[str, ...] = ()

    @property
    def kind(self) -> int:
        """Kernel code: 0 for MSE regression, 1 for log-loss classification."""
        return 0 if self.name == "mse-linear" else 1

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_weights(self) -> int:
        return self.X.shape[1]

    def hessian(self, w: np.ndarray) -> np.ndarray:
        """The loss's Hessian at weights w, shape (d, d)."""
        if self.kind == 0:
            return 2.0 / self.n_samples * self.X.T @ self.X
        p = 1.0 / (1.0 + np.exp(-(self.X @ w)))
        return (self.X.T * (p * (1 - p))) @ self.X / self.n_samples

    def curvature(self, w0: float = 0.0) -> float:
        """Largest Hessian eigenvalue L at the point where every weight is w0."""
        return float(np.linalg.eigvalsh(self.hessian(np.full(self.n_weights, w0)))[-1])

    def theory(self, w0_axis=None) -> dict:
        """Learning rates that theory marks: the MSE stability edge 2/L, or for log loss the
        local bound 2/L(w0) for each w0 of the axis."""
        if self.kind == 0:
            return {"stability_lr": 2.0 / self.curvature()}
        if w0_axis is None:
            return {}
        return {"stability_lr_by": {"axis": "w0", "values": {float(v): 2.0 / self.curvature(float(v)) for v in w0_axis}}}

    def flops_per_step(self) -> int:
        """Floating-point operations of one gradient step, multiplies and adds counted apart:
        MSE uses the precomputed Hessian (g = H w - b: 2 d^2, update and tests 5 d); log loss
        needs X w and X^T r over all n samples (4 n d) plus the sigmoid (about 10 n, exp
        counted as one)."""
        n, d = self.X.shape
        return 4 * n * d + 10 * n + 5 * d if self.kind == 1 else 2 * d * d + 5 * d

    def describe(self) -> dict:
        return {
            "name": self.name,
            "dataset": self.dataset,
            "n_samples": self.n_samples,
            "n_weights": self.n_weights,
            "features": list(self.feature_names),
            "flops_per_step": self.flops_per_step(),
        }


def _standardize(X: np.ndarray) -> np.ndarray:
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0  # a constant column stays constant instead of becoming NaN
    return (X - X.mean(axis=0)) / scale


def _load(dataset: str, target: str | None, classification: bool):
    if dataset in DATASETS:
        from sklearn import datasets

        bunch = datasets.load_diabetes() if dataset == "diabetes" else datasets.load_breast_cancer()
        return np.asarray(bunch.data, float), np.asarray(bunch.target, float), tuple(bunch.feature_names)
    path = Path(dataset)
    if path.suffix.lower() != ".csv" or not path.is_file():
        raise ModelError(f"dataset {dataset!r} is neither {' nor '.join(DATASETS)} nor an existing .csv file")
    if not target:
        raise ModelError(f"a CSV dataset needs --target COLUMN (the column to predict) for {dataset!r}")
    import pandas as pd

    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot read {dataset!r}: {error}") from None
    if target not in table.columns:
        raise ModelError(f"target column {target!r} is not in {dataset!r}; its columns are {', '.join(map(str, table.columns))}")
    features = table.drop(columns=[target])
    numeric = features.select_dtypes("number")
    if numeric.shape[1] == 0 or numeric.shape[1] != features.shape[1] or table.isna().any().any():
        raise ModelError(f"{dataset!r} must hold only numeric columns without missing values")
    if not pd.api.types.is_numeric_dtype(table[target]):
        raise ModelError(f"target column {target!r} of {dataset!r} must be numeric")
    y = table[target].to_numpy(float)
    if not (np.isfinite(numeric.to_numpy(float)).all() and np.isfinite(y).all()):
        raise ModelError(f"{dataset!r} holds inf or NaN values: every value must be a finite number")
    if max(np.abs(numeric.to_numpy(float)).max(), np.abs(y).max()) > 1e150:
        raise ModelError(f"{dataset!r} holds values beyond 1e150, which overflow once squared: rescale the data")
    if classification and not np.isin(y, (0.0, 1.0)).all():
        raise ModelError(f"logloss-logistic needs a 0/1 target; column {target!r} has other values")
    return numeric.to_numpy(float), y, tuple(map(str, numeric.columns))


def make_model(name: str, dataset: str | None = None, target: str | None = None) -> Model:
    """Load a model's data and prepare it (see the module docstring).

    Args:
        name: ``"mse-linear"`` or ``"logloss-logistic"``.
        dataset: ``"diabetes"``, ``"breast-cancer"`` or a path to a CSV file; defaults to the
            model's own (diabetes for regression, breast-cancer for classification).
        target: the CSV column to predict (CSV datasets only).

    Raises:
        ModelError: for an unknown model, an unreadable or non-numeric dataset, a missing target
            column, or a classification target that is not 0/1.
    """
    if name not in MODELS:
        raise ModelError(f"unknown model {name!r}; models are {', '.join(MODELS)}")
    dataset = dataset or MODELS[name]
    X, y, names = _load(dataset, target, classification=name == "logloss-logistic")
    if X.shape[0] < 2:
        raise ModelError(f"dataset {dataset!r} has fewer than 2 rows")
    if name == "mse-linear":
        y = (y - y.mean()) / (y.std() or 1.0)
    X = np.hstack([_standardize(X), np.ones((X.shape[0], 1))])
    return Model(name, dataset, np.ascontiguousarray(X), np.ascontiguousarray(y), names + ("intercept",))


def scores(model: Model, W: np.ndarray) -> np.ndarray:
    """What a user of the model wants beside the loss, for final weights W of shape (runs, d):
    R^2 for regression, accuracy (threshold 0.5) for classification. NaN where W is not finite."""
    with np.errstate(all="ignore"):
        z = W @ model.X.T  # (runs, n)
        if model.kind == 0:
            residual = ((z - model.y) ** 2).sum(axis=1)
            total = ((model.y - model.y.mean()) ** 2).sum()
            result = 1.0 - residual / total
        else:
            result = ((z > 0) == (model.y > 0.5)).mean(axis=1)
    result[~np.isfinite(W).all(axis=1)] = math.nan
    return result
