"""What a ``sweep.json`` may hold: a JSON Schema (checked with ``jsonschema``), then the rules
between fields that a schema cannot say (the run count is the product of the axes' sizes).

A folder can be shared or edited by hand, so nothing read from it is trusted: a value of
the wrong type, an axis of strings, a chunk size of ``"x"`` or ``1e400`` is refused in one
line that names the field, before anything else reads it.
"""

from __future__ import annotations

import math

#: The version of the files a sweep writes; a folder of another format is not resumed.
FORMAT = 2

_NUMBER = {"type": "number"}
_FINITE_LIST = {"type": "array", "minItems": 1, "items": {"type": "number"}}
_TEXT = {"type": "string", "maxLength": 2000}

SWEEP_SCHEMA = {
    "type": "object",
    "required": ["loss", "axes", "max_iter", "tol", "div_factor", "n_runs"],
    "properties": {
        "format": {"type": "integer", "minimum": 1},
        "optimizer": {"type": "string", "maxLength": 40},
        "schedule": {"type": "string", "maxLength": 40},
        "dynamics": {"type": "boolean"},
        "loss": {
            "type": "object",
            "required": ["name", "formula", "expression"],
            "properties": {
                "name": {"type": "string", "maxLength": 100},
                "formula": _TEXT,
                "expression": _TEXT,
                # one text, or one per weight for a loss of several
                "gradient": {"anyOf": [_TEXT, {"type": "array", "items": _TEXT, "maxItems": 64}]},
                "gradient_expression": {"anyOf": [_TEXT, {"type": "array", "items": _TEXT, "maxItems": 64}]},
                "source": _TEXT,
                "params": {"type": "object", "additionalProperties": _NUMBER, "maxProperties": 50},
                "minima": {"type": "array", "items": {"anyOf": [_NUMBER, {"type": "array", "items": _NUMBER, "maxItems": 64}]}, "maxItems": 1000},
                "weights": {"type": "array", "items": {"type": "string", "maxLength": 100}, "minItems": 2, "maxItems": 64},
                "dataset": {"type": "string", "maxLength": 4096},
                "n_samples": {"type": "integer", "minimum": 1},
                "n_weights": {"type": "integer", "minimum": 1},
                "features": {"type": "array", "items": {"type": "string", "maxLength": 500}},
                "flops_per_step": {"type": "integer", "minimum": 0},
                "theory": {"type": "object"},
            },
        },
        "axes": {
            "type": "object",
            "required": ["lr"],
            "additionalProperties": _FINITE_LIST,
            "maxProperties": 20,
        },
        "axes_spec": {"type": "object", "additionalProperties": _TEXT},
        "starts": {"type": "array", "items": {"type": "string", "maxLength": 100}, "minItems": 1, "maxItems": 64},
        "points": {"type": "array", "items": {"type": "array", "items": _NUMBER, "maxItems": 64}, "minItems": 1},
        "max_iter": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
        "tol": {"type": "number", "minimum": 0},
        "div_factor": {"type": "number", "minimum": 1},
        "n_runs": {"type": "integer", "minimum": 1},
        "seed": {"type": "integer", "minimum": 0},
        "target_loss": {"type": "number", "minimum": 0},
        "target": _NUMBER,
        "trace": {"type": "array", "items": _TEXT, "maxItems": 20},
        "n_traced": {"type": "integer", "minimum": 1},
        "chunk_size": {"type": "integer", "minimum": 1},
        "n_chunks": {"type": "integer", "minimum": 1},
        "status": {"enum": ["running", "complete"]},
        "seconds": _NUMBER,
        "compile_seconds": _NUMBER,
        "wall_seconds": _NUMBER,
        "n_threads": {"type": "integer", "minimum": 1},
        "counts": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "versions": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def schema_problem(config, schema: dict = SWEEP_SCHEMA) -> str | None:
    """What is wrong with ``config`` against ``schema``, as one short sentence; None if
    nothing is. The sentence names the field by its path (``axes.lr[3]``)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(config))
    if not errors:
        return None
    # The shallowest error first, then the first in the file's order.
    error = min(errors, key=lambda e: (len(e.absolute_path), [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in e.absolute_path]))
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    if error.validator == "required":
        missing = next((name for name in error.validator_value if name not in error.instance), "?")
        return f"the field {(where + '.' if where else '') + missing!r} is missing"
    where = where or "the file"
    shown = repr(error.instance)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{where} = {shown}: {_short_reason(error)}"


def _short_reason(error) -> str:
    kind = error.validator
    if kind == "type":
        return f"must be of type {error.validator_value}"
    if kind in ("minimum", "maximum"):
        return f"must be {'>=' if kind == 'minimum' else '<='} {error.validator_value}"
    if kind == "enum":
        return f"must be one of {', '.join(map(str, error.validator_value))}"
    if kind == "minItems":
        return "must not be empty"
    if kind in ("maxLength", "maxItems", "maxProperties"):
        return "is too long"
    return error.message[:80]


def sweep_config_problem(config) -> str | None:
    """Everything wrong with a sweep.json, schema first, then the rules between fields:
    every axis value finite, each axis sorted without duplicates, learning rates > 0,
    ``n_runs`` the product of the axes' sizes, and ``n_chunks`` the chunks of
    ``chunk_size`` it takes. None if nothing is."""
    problem = schema_problem(config)
    if problem:
        return problem
    from sweep.optim.optimizers import OPTIMIZERS
    from sweep.optim.schedules import SCHEDULES

    optimizer = config.get("optimizer", "gd")
    if optimizer not in OPTIMIZERS:
        return f"optimizer = {optimizer[:40]!r}: must be one of {', '.join(OPTIMIZERS)}"
    schedule = config.get("schedule", "constant")
    if schedule not in SCHEDULES:
        return f"schedule = {schedule[:40]!r}: must be one of {', '.join(SCHEDULES)}"
    starts = config.get("starts", ["w0"])
    # A cloud's starts are columns taken from its points by the start axis, not axes.
    missing = [name for name in starts if name not in config["axes"]] if "points" not in config else ([] if "start" in config["axes"] else ["start"])
    if missing:
        return f"axes lacks {missing[0][:40]!r}, the start of a weight (starts: {', '.join(starts)})"
    allowed = ["lr", *starts, *(["start"] if "points" in config else []), *(h.name for h in OPTIMIZERS[optimizer].hyperparameters), *(p.name for p in SCHEDULES[schedule].params), "grad_noise", "batch_size", *config["loss"].get("params", {})]
    unknown = [name for name in config["axes"] if name not in allowed]
    if unknown:
        return f"axes.{unknown[0][:40]} is not an axis of a {optimizer} sweep (its axes are {', '.join(allowed)})"
    for name, values in config["axes"].items():
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            return f"axes.{name} holds a value that is not a finite number"
        if any(b <= a for a, b in zip(values, values[1:])):
            return f"axes.{name} is not sorted without duplicates"
    if min(config["axes"]["lr"]) <= 0:
        return "axes.lr holds a learning rate <= 0"
    if not math.isfinite(config["tol"]):
        return f"tol = {config['tol']!r}: must be finite"
    if not config["div_factor"] >= 1:
        return f"div_factor = {config['div_factor']!r}: must be >= 1"
    n_runs = math.prod(len(values) for values in config["axes"].values())
    if config["n_runs"] != n_runs:
        return f"n_runs = {config['n_runs']}: the axes hold {n_runs:,} runs"
    if "chunk_size" in config or "n_chunks" in config:
        if "chunk_size" not in config or "n_chunks" not in config:
            return "chunk_size and n_chunks must be given together"
        if config["n_chunks"] != -(-n_runs // config["chunk_size"]):
            return f"n_chunks = {config['n_chunks']}: {n_runs:,} runs in chunks of {config['chunk_size']:,} make {-(-n_runs // config['chunk_size'])}"
    return None
