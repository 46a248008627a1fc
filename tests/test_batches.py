"""Mini-batches for models on data: the draws, their average, the kernel against a plain-Python
mini-batch loop, the same runs for any thread count and chunking, and bad input."""

import numpy as np
import pytest

import sweep
from sweep.cli import main
from sweep.errors import SweepError
from sweep.optim.batches import batch_samples, batches_per_epoch
from sweep.problems.models import make_model
from sweep.reference import optimizer_run
from sweep.run.executor import model_data
from sweep.run.plan import plan_sweep
from sweep.run.stream import stream_sweep
from sweep.store.results import read_results


def _full_gradient(model, w, rows=None):
    """The model's gradient on the samples ``rows`` (all by default), in NumPy."""
    X, y = model.X, model.y
    if rows is not None:
        X, y = X[rows], y[rows]
    z = X @ w
    if model.kind == 0:
        return 2.0 / len(y) * X.T @ (z - y)
    with np.errstate(over="ignore"):  # exp(-z) overflows to inf for very negative z: sigmoid 0, as it should
        return X.T @ (1.0 / (1.0 + np.exp(-z)) - y) / len(y)


@pytest.mark.parametrize("batch_size", [1, 64, 100, 569])
def test_each_epoch_visits_every_sample_once_in_a_fresh_order(batch_size):
    n = 569
    per_epoch = batches_per_epoch(n, batch_size)
    for run in (0, 7):
        epochs = []
        for epoch in range(2):
            batches = [batch_samples(3, run, epoch * per_epoch + t, n, batch_size) for t in range(per_epoch)]
            sizes = [len(b) for b in batches]
            # full batches, and the rest in the last one (no sample dropped)
            assert sizes[:-1] == [batch_size] * (per_epoch - 1) and sizes[-1] == n - batch_size * (per_epoch - 1)
            assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(n))
            epochs.append(batches)
        if batch_size < n:
            assert not all(np.array_equal(a, b) for a, b in zip(*epochs))  # a new order each epoch
    if batch_size < n:
        assert not np.array_equal(batch_samples(3, 0, 0, n, batch_size), batch_samples(3, 1, 0, n, batch_size))
        assert not np.array_equal(batch_samples(3, 0, 0, n, batch_size), batch_samples(4, 0, 0, n, batch_size))


@pytest.mark.parametrize("name", ["mse-linear", "logloss-logistic"])
def test_minibatch_gradients_average_to_the_full_gradient(name):
    model = make_model(name)
    n, w = model.n_samples, np.random.default_rng(1).normal(size=model.n_weights) * 0.3
    for batch_size in (32, 50):
        per_epoch = batches_per_epoch(n, batch_size)
        for epoch in range(2):
            parts = [batch_samples(0, 5, epoch * per_epoch + t, n, batch_size) for t in range(per_epoch)]
            mean = sum(len(rows) / n * _full_gradient(model, w, rows) for rows in parts)
            np.testing.assert_allclose(mean, _full_gradient(model, w), rtol=1e-10, atol=1e-13)
    # and over many epochs the mean batch gradient tends to the full one
    draws = np.array([_full_gradient(model, w, batch_samples(0, run, 0, n, 16)) for run in range(400)])
    spread = draws.std(axis=0) / np.sqrt(len(draws))
    assert (np.abs(draws.mean(axis=0) - _full_gradient(model, w)) < 5 * spread + 1e-12).all()


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
@pytest.mark.parametrize("name", ["mse-linear", "logloss-logistic"])
def test_the_kernel_is_a_plain_minibatch_loop(name, optimizer):
    model = make_model(name)
    n = model.n_samples
    lrs, w0, sizes, seed, max_iter = [0.01, 0.3, 40.0], [-0.2, 0.1], [16, 100], 11, 25
    frame = sweep.run_sweep(lrs, w0, loss=name, optimizer=optimizer, batch_size=sizes, seed=seed, max_iter=max_iter)
    assert list(frame.columns[:4]) == ["lr", "w0", "batch_size", "n_iter"] and {"loss_tail", "reached"} <= set(frame.columns)
    for run, row in enumerate(frame.itertuples()):
        def grad_at(k, w, size=int(row.batch_size), run=run):
            return _full_gradient(model, np.array(w), batch_samples(seed, run, k, n, size))

        n_iter, w, outcome = optimizer_run(optimizer, row.lr, [row.w0] * model.n_weights, None, None, max_iter, 0.0, grad_at=grad_at)
        assert (row.n_iter, str(row.outcome)) == (n_iter, outcome), (row.lr, row.w0, row.batch_size)
        if outcome == "max_iter":
            # the final loss is the full one, at the weights the mini-batch steps reached
            X, y = model_data(model)[:2]
            z = X @ np.array(w)
            full = np.mean((z - y) ** 2) if model.kind == 0 else np.mean(np.logaddexp(0, z) - y * z)
            assert row.loss == pytest.approx(full, rel=1e-8)


@pytest.mark.two_threads
def test_minibatch_sweeps_are_the_same_for_any_threads_and_chunks(tmp_path):
    settings = {"loss": "logloss-logistic", "batch_size": [8, 64], "max_iter": 60, "seed": 2}
    lr, w0 = np.geomspace(1e-2, 5, 9), [-0.5, 0.0, 0.5]
    one = sweep.run_sweep(lr, w0, n_threads=1, **settings)
    two = sweep.run_sweep(lr, w0, n_threads=2, **settings)
    assert one.equals(two)
    plan = plan_sweep(lr, w0, **settings)
    stream_sweep(plan, tmp_path / "chunks", chunk_size=7, progress=False, log=lambda *_: None)
    assert read_results(tmp_path / "chunks")[0].equals(one)
    # another seed, other batches
    assert not sweep.run_sweep(lr, w0, **{**settings, "seed": 3})["loss"].equals(one["loss"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss": "quadratic", "batch_size": 4}, "no samples to batch"),
        ({"loss": "mse-linear", "batch_size": 443}, r"batch_size=443 is not allowed: .* 1\.\.442"),
        ({"loss": "mse-linear", "batch_size": 0}, r"batch_size=0 is not allowed: .* 1\.\.442"),
        ({"loss": "mse-linear", "batch_size": 2.5}, "batch_size=2.5 is not allowed: a batch size is a whole number"),
    ],
)
def test_bad_batch_sizes_are_refused(kwargs, message):
    with pytest.raises(SweepError, match=message):
        plan_sweep([0.1], [0.0], **kwargs)


def test_batch_size_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "batches"
    code = main(["run", "--loss", "mse-linear", "--lr", "1e-3:1:12:log", "--w0", "0", "--batch-size", "1,8,64,442", "--max-iter", "200", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    runs, config = read_results(out)
    assert sorted(runs["batch_size"].unique()) == [1, 8, 64, 442] and config["seed"] == 0
    assert main(["run", "--loss", "mse-linear", "--batch-size", "1000", "--out", str(tmp_path / "bad")]) == 2
    assert "1..442" in capsys.readouterr().err and not (tmp_path / "bad").exists()
