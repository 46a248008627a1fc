"""Models on real data through the model kernel (until the generator's block problems land)."""

from __future__ import annotations

import numpy as np

from sweep.run.plan import Plan


def descend_model(plan: Plan, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from sweep.api import descend_model_runs

    hyper = {h.name: values[h.name] for h in plan.optimizer.hyperparameters}
    return descend_model_runs(values["lr"], values["w0"], plan.problem, plan.max_iter, plan.tol, plan.div_factor, plan.optimizer.name, hyper)
