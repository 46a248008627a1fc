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

from sweep.errors import ModelError

MODELS = {"mse-linear": "diabetes", "logloss-logistic": "breast-cancer"}
DATASETS = ("diabetes", "breast-cancer")


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
        # exp(-z) -> inf for very negative z: p = 0, as it should; where X w itself overflows
        # (inf - inf) p is NaN, and so is the Hessian (curvature() says so)
        with np.errstate(over="ignore", invalid="ignore"):
            p = 1.0 / (1.0 + np.exp(-(self.X @ w)))
        return (self.X.T * (p * (1 - p))) @ self.X / self.n_samples

    def curvature(self, w0: float = 0.0) -> float:
        """Largest Hessian eigenvalue L at the point where every weight is w0; NaN where the
        Hessian cannot be computed in floats (X w overflows)."""
        H = self.hessian(np.full(self.n_weights, w0))
        if not np.isfinite(H).all():
            return math.nan
        return float(np.linalg.eigvalsh(H)[-1])

    def theory(self, w0_axis=None) -> dict:
        """Learning rates that theory marks: the MSE stability edge 2/L, or for log loss the
        local bound 2/L(w0) for each w0 of the axis. Where the sigmoid saturates (a large
        |w0|) L is 0 to rounding and no rate is bounded, and where X w overflows L is NaN:
        such w0 have no entry."""
        if self.kind == 0:
            return {"stability_lr": 2.0 / self.curvature()}
        if w0_axis is None:
            return {}
        bounds = {float(v): self.curvature(float(v)) for v in w0_axis}
        return {"stability_lr_by": {"axis": "w0", "values": {v: 2.0 / top for v, top in bounds.items() if top > 0.0}}}

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


#: One weight per feature plus the intercept, fewer than ``sweep.kernels.generator.COUNT_BASE``
#: (2**17): the block kernel counts failing weights in digits of that base.
MAX_FEATURES = 2**17 - 2


def _standardize(X: np.ndarray) -> np.ndarray:
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0  # a constant column stays constant instead of becoming NaN
    return (X - X.mean(axis=0)) / scale


def _load(dataset: str, target: str | None, features: tuple[str, ...] | None = None):
    if dataset in DATASETS:
        for option, value in (("--target", target), ("--features", features)):
            if value:
                raise ModelError(f"{option} is for a CSV dataset; the built-in {dataset} data has its own target and features")
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
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise ModelError(f"cannot read {dataset!r}: {str(error).splitlines()[0][:120]}") from None
    columns = [str(c) for c in table.columns]
    table.columns = columns
    if len(table) < 2:  # a header alone, before any column is looked into
        raise ModelError(f"dataset {dataset!r} has fewer than 2 rows")
    if target not in columns:
        raise ModelError(f"target column {target!r} is not in {dataset!r}; its columns are {', '.join(columns)}")
    if features:
        unknown = [name for name in features if name not in columns]
        if unknown:
            raise ModelError(f"--features: {unknown[0]!r} is not a column of {dataset!r}; its columns are {', '.join(columns)}")
        if target in features:
            raise ModelError(f"--features: {target!r} is the target column; a feature must be another column")
        chosen = list(features)
    else:
        chosen = [name for name in columns if name != target]
    if not chosen:
        raise ModelError(f"{dataset!r} has no column besides the target {target!r} to use as a feature")
    if len(chosen) > MAX_FEATURES:
        raise ModelError(f"{dataset!r} has {len(chosen)} feature columns; at most {MAX_FEATURES} are supported (choose some with --features a,b,c)")
    for name in [*chosen, target]:
        column = table[name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            sample = next((v for v in column if not isinstance(v, (int, float))), column.iloc[0])
            hint = "" if features else "; choose the numeric feature columns with --features a,b,c"
            raise ModelError(f"column {name!r} of {dataset!r} is not numeric (it holds {str(sample)[:30]!r}){hint}")
        missing = int(column.isna().sum())
        if missing:
            raise ModelError(f"column {name!r} of {dataset!r} has {missing} missing value{'s' if missing != 1 else ''} (first in row {int(column.isna().to_numpy().argmax()) + 1}): fill or drop them")
    X = table[chosen].to_numpy(float)
    y = table[target].to_numpy(float)
    for name, values in [*zip(chosen, X.T), (target, y)]:
        if not np.isfinite(values).all():
            raise ModelError(f"column {name!r} of {dataset!r} holds inf: every value must be a finite number")
        if np.abs(values).max() > 1e150:
            raise ModelError(f"column {name!r} of {dataset!r} holds values beyond 1e150, which overflow once squared: rescale the data")
    return X, y, tuple(chosen)


def _check_target(name: str, dataset: str, y: np.ndarray) -> None:
    """Refuse a target the model cannot fit: log loss needs classes 0 and 1."""
    if name == "logloss-logistic" and not np.isin(y, (0.0, 1.0)).all():
        values = np.unique(y)
        shown = ", ".join(f"{v:g}" for v in values[:4]) + (", ..." if values.size > 4 else "")
        raise ModelError(f"logloss-logistic needs a 0/1 target, but the target of {dataset!r} takes {values.size} values ({shown}); use mse-linear, or a 0/1 column")


def make_model(name: str, dataset: str | None = None, target: str | None = None, features: tuple[str, ...] | None = None) -> Model:
    """Load a model's data and prepare it (see the module docstring).

    Args:
        name: ``"mse-linear"`` or ``"logloss-logistic"``.
        dataset: ``"diabetes"``, ``"breast-cancer"`` or a path to a CSV file; defaults to the
            model's own (diabetes for regression, breast-cancer for classification).
        target: the CSV column to predict (CSV datasets only).
        features: the CSV columns to learn from (default: every column but the target).

    Raises:
        ModelError: for an unknown model; an unreadable dataset; a column that is not
            numeric or has missing values (named); a missing target column; a target or
            features given for a built-in dataset; a classification target that is not 0/1.
    """
    if name not in MODELS:
        raise ModelError(f"unknown model {name!r}; models are {', '.join(MODELS)}")
    dataset = dataset or MODELS[name]
    X, y, names = _load(dataset, target, features)
    _check_target(name, dataset, y)
    if X.shape[0] < 2:
        raise ModelError(f"dataset {dataset!r} has fewer than 2 rows")
    if name == "mse-linear":
        y = (y - y.mean()) / (y.std() or 1.0)
    X = np.hstack([_standardize(X), np.ones((X.shape[0], 1))])
    return Model(name, dataset, np.ascontiguousarray(X), np.ascontiguousarray(y), names + ("intercept",))


#: Runs whose predictions are held at once when scoring: bounds the (runs, samples) matrix.
SCORE_BYTES = 64 << 20


def scores(model: Model, W: np.ndarray, loss: np.ndarray | None = None) -> np.ndarray:
    """What a user of the model wants beside the loss, for final weights W of shape (runs, d):
    R^2 for regression, accuracy (threshold 0.5) for classification. NaN where W is not finite.
    Computed a block of runs at a time, so memory stays within ``SCORE_BYTES``.

    ``loss`` (runs,), float64: the runs' mean squared errors at W, if known. R^2 is then
    1 - n * loss / sum((y - mean(y))**2), the same value to rounding, without the (runs, n)
    predictions (which cost a model kernel's short sweep a sixth of its time)."""
    total = ((model.y - model.y.mean()) ** 2).sum()
    if model.kind == 0 and loss is not None:
        with np.errstate(all="ignore"):
            result = 1.0 - loss * model.n_samples / total
        result[~np.isfinite(W).all(axis=1)] = math.nan
        return result
    result = np.empty(W.shape[0])
    step = max(1, SCORE_BYTES // (8 * model.n_samples))
    with np.errstate(all="ignore"):
        for start in range(0, W.shape[0], step):
            z = W[start : start + step] @ model.X.T  # (block, n)
            if model.kind == 0:
                result[start : start + step] = 1.0 - ((z - model.y) ** 2).sum(axis=1) / total
            else:
                result[start : start + step] = ((z > 0) == (model.y > 0.5)).mean(axis=1)
    result[~np.isfinite(W).all(axis=1)] = math.nan
    return result
