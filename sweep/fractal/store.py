"""Trainability pictures on disk: ``DIR/image.parquet`` (one row per cell) and
``DIR/fractal.json`` (the experiment, its timing and boundary dimension).

Written through a claimed ``sweep.store.folder.Folder``: a file appears whole or not at all, and
is recorded. The experiment is also kept in the Parquet file's metadata, as the sweeps'
runs files do.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sweep.errors import FractalError, StoreError
from sweep.fractal.experiment import Experiment, Picture
from sweep.run.executor import versions

IMAGE_FILE = "image.parquet"
CONFIG_FILE = "fractal.json"
CONFIG_KEY = b"sweep.fractal"
SECONDS_KEY = b"sweep.fractal.seconds"
FRAMES_DIR = "frames"


def picture_table(picture: Picture) -> pa.Table:
    """One row per cell: ``x`` (and ``y``) named after the axes, ``converged``, ``measure``;
    rows in image order (y-major)."""
    e = picture.experiment
    columns = {}
    if e.y is None:
        columns[e.x.name] = e.x.values()
    else:
        yy, xx = np.meshgrid(e.y.values(), e.x.values(), indexing="ij")
        columns[e.x.name] = xx.ravel()
        columns[e.y.name] = yy.ravel()
    columns["converged"] = picture.converged.ravel()
    columns["measure"] = picture.measure.ravel()
    return pa.table(columns)


def summary(picture: Picture) -> dict:
    """The JSON-ready record of a picture: experiment, timing, class shares, dimension."""
    dim = picture.dimension
    return {
        "experiment": picture.experiment.to_config(),
        "seconds": round(picture.seconds, 3),
        "compile_seconds": round(picture.compile_seconds, 3),
        "converged_share": float(np.mean(picture.converged)),
        "dimension": {
            "value": dim.value if math.isfinite(dim.value) else None,
            "stderr": dim.stderr if math.isfinite(dim.stderr) else None,
            "low": dim.low if math.isfinite(dim.low) else None,
            "high": dim.high if math.isfinite(dim.high) else None,
            "fit": list(dim.fit),
            "sizes": list(dim.sizes),
            "counts": list(dim.counts),
        },
        "versions": versions(),
    }


def picture_bytes(picture: Picture):
    """A writer (callable taking a path) of the picture's table as Parquet, with its
    experiment in the metadata; for ``sweep.store.folder.Folder.write``."""
    record = summary(picture)
    table = picture_table(picture)
    metadata = dict(table.schema.metadata or {})
    metadata[CONFIG_KEY] = json.dumps(record["experiment"]).encode()
    metadata[SECONDS_KEY] = str(picture.seconds).encode()
    table = table.replace_schema_metadata(metadata)
    return lambda path: pq.write_table(table, path)


def config_bytes(record: dict) -> bytes:
    """``fractal.json``'s text."""
    return (json.dumps(record, indent=2, allow_nan=True) + "\n").encode()


def read_picture(path: str | Path) -> Picture:
    """Read a picture back: from a results folder (its ``image.parquet``) or a Parquet file.

    Raises:
        StoreError: if there is no such picture or the file is not one sweep wrote.
    """
    path = Path(path)
    file = path / IMAGE_FILE if path.is_dir() else path
    frames = sorted((path / FRAMES_DIR).glob("frame-*.parquet")) if path.is_dir() else []
    if not file.is_file() and frames:
        file = frames[-1]  # a zoom sequence: go on from its deepest frame
    if not file.is_file():
        raise StoreError(f"{path} holds no trainability picture ({IMAGE_FILE} is missing); make one with 'sweep fractal'")
    try:
        table = pq.read_table(file)
        metadata = table.schema.metadata or {}
        config = json.loads(metadata[CONFIG_KEY])
        seconds = float(metadata.get(SECONDS_KEY, b"0"))
        experiment = Experiment.from_config(config)
        converged = table.column("converged").to_numpy(zero_copy_only=False).astype(bool)
        measure = table.column("measure").to_numpy(zero_copy_only=False).astype(np.float64)
    except (KeyError, ValueError, OSError, pa.ArrowException, FractalError) as error:
        raise StoreError(f"{file} is not a trainability picture written by sweep ({error})") from None
    if converged.size != math.prod(experiment.shape):
        raise StoreError(f"{file} has {converged.size} cells, but its experiment has {math.prod(experiment.shape)}")
    return Picture(experiment, converged.reshape(experiment.shape), measure.reshape(experiment.shape), seconds)


