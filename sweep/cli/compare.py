"""``sweep compare``: optimizers side by side from one start, on the loss's contours."""

from __future__ import annotations

import click

from sweep.cli.options import NAME_VALUE, params_dict
from sweep.cli.output import say, spinner
from sweep.optim.optimizers import OPTIMIZERS

#: Files ``sweep compare`` writes into its folder.
COMPARE_FILES = ("compare.parquet", "compare.json", "compare.png")


@click.command("compare")
@click.option("--loss", default="rosenbrock", show_default=True, help="A loss of two weights: a built-in (rosenbrock, beale, himmelblau, booth, rastrigin, ill-quadratic) or a formula in two weights.")
@click.option("--param", "params", type=NAME_VALUE, multiple=True, help="A loss parameter (repeatable), one number: --param b=10.")
@click.option("--optimizer", "optimizers", type=click.Choice(list(OPTIMIZERS)), multiple=True, help="An optimizer to compare (repeatable; default gd, momentum, adam, rmsprop).")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="The learning rate, the same for every optimizer.")
@click.option("--w0", "starts", type=NAME_VALUE, multiple=True, metavar="NAME=VALUE", help="The start of one weight (repeatable; default: the built-in's customary start), e.g. --w0 x=-1.5 --w0 y=2.")
@click.option("--max-iter", type=int, default=1000, show_default=True, help="Most updates per run.")
@click.option("--tol", type=float, default=0.0, show_default=True, help="Stop when every gradient component is within tol; 0 means exactly 0.")
@click.option("--div-factor", type=float, default=1e8, show_default=True, help="Diverged once the largest coordinate passes div-factor * max(1, largest |w0|).")
@click.option("--out", default="sweep-compare", show_default=True, help="Folder for compare.parquet (every iterate), compare.json and compare.png.")
def compare_command(loss, params, optimizers, lr, starts, max_iter, tol, div_factor, out):
    """Run several optimizers from the same start with the same learning rate and draw their
    paths, one panel per optimizer, on the contours of a loss of two weights.

    \b
    Examples:
      sweep compare                                          # Rosenbrock from (-1.5, 2), lr 1e-3
      sweep compare --loss himmelblau --lr 0.01 --w0 x=0 --w0 y=-4 --max-iter 300
      sweep compare --loss '0.5*(x**2 + 10*y**2)' --lr 0.15 --optimizer gd --optimizer momentum
    """
    import json

    from sweep.errors import SweepError
    from sweep.plots.figures import contour_paths
    from sweep.plots.report import png_bytes
    from sweep.problems.losses import make_loss
    from sweep.run.sweeps import compare
    from sweep.store.folder import claim
    from sweep.store.results import traces_bytes

    chosen = list(optimizers) or ["gd", "momentum", "adam", "rmsprop"]
    fixed = params_dict(params)
    given = params_dict(starts, "--w0")
    try:
        made = make_loss(loss, fixed)
    except ValueError as error:
        raise SweepError(str(error)) from None
    if made.d != 2:
        raise SweepError(f"sweep compare draws losses of two weights on their contours; {loss!r} has {made.d} (use sweep run --trace for others)")
    # Every run first: nothing is written for bad input. A kernel's first use compiles it,
    # for up to a minute: the spinner (on a terminal) says so, and bad input stays one line.
    with spinner(f"running {', '.join(chosen)} (a kernel's first use compiles it, up to a minute each; cached afterwards)...", quiet=False):
        traces = compare(lr, given or None, loss=loss, params=fixed, optimizers=chosen, max_iter=max_iter, tol=tol, div_factor=div_factor)
    names = made.weight_names
    panels, summary = [], []
    for name in chosen:
        rows = traces[traces["optimizer"] == name]
        last = rows.iloc[-1]
        outcome = traces.attrs["outcomes"][name]
        summary.append({"optimizer": name, "outcome": outcome, "n_iter": int(last["step"]), "loss": float(last["loss"]), **{w: float(last[w]) for w in names}})
        panels.append({"title": f"{name}: {outcome} after {int(last['step'])} updates, loss {float(last['loss']):.3g}", "runs": [{"path": rows[list(names)].to_numpy(), "label": f"lr = {lr:g}", "outcome": outcome}]})
    figure = contour_paths(panels, made.numeric(), names=names, loss_text=made.expression(), minima=made.minima, best=made.best_value())
    config = {"loss": made.expression(), "name": made.name, "params": made.settings, "lr": lr, "w0": {w: float(traces[w].iloc[0]) for w in names}, "max_iter": max_iter, "tol": tol, "div_factor": div_factor, "optimizers": chosen, "runs": summary}
    files = {"compare.parquet": traces_bytes(traces), "compare.json": (json.dumps(config, indent=2) + "\n").encode(), "compare.png": png_bytes(figure)}
    with claim(out, command="sweep compare") as folder:
        folder.write(files)
    for row in summary:
        say(f"  {row['optimizer']:<9} {row['outcome']:<10} {row['n_iter']:>7} updates  loss {row['loss']:.6g}  at ({', '.join(f'{row[w]:.6g}' for w in names)})")
    say(f"wrote {folder.path / 'compare.png'}, compare.parquet and compare.json")

