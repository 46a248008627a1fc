"""``sweep serve``: explore a sweep folder, or a trainability image, in the browser."""

from __future__ import annotations

import ipaddress

import click

from sweep.cli.fractal import NETWORK, experiment_from_options, experiment_options
from sweep.cli.output import say
from sweep.errors import UserError

LOOPBACK = "127.0.0.1"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _shown(directory: str | None, has_problem: bool, options: dict):
    """What to serve: the sweep or trainability image in DIRECTORY, or the experiment the
    options describe (saved views then go into DIRECTORY, created on the first save)."""
    from sweep.serve import Shown
    from sweep.serve.fractalview import LOSS_RESOLUTION, NETWORK_RESOLUTION, windowed
    from sweep.store.folder import check_name

    def from_options():
        from sweep.serve.fractalview import MAX_RESOLUTION, MIN_RESOLUTION

        n = options["resolution"]
        if n is not None and not MIN_RESOLUTION <= n <= MAX_RESOLUTION:
            raise UserError(f"--resolution {n} is not allowed: the browser view takes {MIN_RESOLUTION}..{MAX_RESOLUTION} values per axis")
        image = NETWORK_RESOLUTION if options["problem"] == NETWORK else LOSS_RESOLUTION
        return experiment_from_options(**options, image_resolution=image, line=False)

    if directory is None:
        return Shown(experiment=from_options())
    path = check_name(directory, "DIRECTORY")
    if has_problem:
        if (path / "sweep.json").exists() or (path / "fractal.json").exists():
            raise UserError(f"DIRECTORY {directory!r} holds results; --problem starts a new image, whose saved views need a folder of their own")
        _check_save_root(path, directory)
        return Shown(experiment=from_options(), save_root=path)
    if (path / "sweep.json").exists():
        from sweep.serve.sweepview import open_sweep

        return Shown(sweep=open_sweep(path))
    if (path / "fractal.json").exists():
        from sweep.fractal.store import read_picture

        experiment = read_picture(path).experiment
        if experiment.y is None:
            raise UserError(f"{directory!r} holds a line of learning rates; the browser view draws images")
        n = NETWORK_RESOLUTION if experiment.is_network else LOSS_RESOLUTION
        first = windowed(experiment, (experiment.x.lo, experiment.x.hi), (experiment.y.lo, experiment.y.hi), min(n, experiment.x.n))
        # No saving into a `sweep fractal` folder: files it did not write would stop
        # `sweep fractal --out` and `sweep zoom` from reusing it.
        return Shown(experiment=first, save_note=f"views of {directory} are saved by `sweep zoom {directory} --x-range A:B --y-range C:D --out DIR2`")
    raise UserError(f"DIRECTORY {directory!r} holds no sweep (sweep.json) or trainability image (fractal.json); give --problem to start from a new image, saved views going there")


@click.command("serve")
@click.argument("directory", required=False)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to listen on (0: any free one).")
@click.option("--host", default=LOOPBACK, show_default=True, help="Address to listen on; anything but a loopback address lets other machines use the server.")
@experiment_options("Values per axis of the image (default 256 for a loss, 128 for the network; at most 512).")
def serve_command(directory, port, host, **options):
    """Explore a sweep or a trainability image in the browser, recomputed live.

    With a sweep folder (from `sweep run`): its outcome, iterations and loss maps; hover a
    cell for its settings and outcome, click it to trace that run, and recompute a small
    grid with another max_iter, hyperparameter or schedule parameter. With a `sweep fractal`
    folder, or with --problem options: a trainability image; drag a box to zoom, and the
    image and its boundary dimension are recomputed for the new window. Saved views go into
    DIRECTORY, and nowhere else.

    \b
    Examples:
      sweep serve sweep-results                  # after `sweep run`
      sweep serve                                # the width-8 network's trainability image
      sweep serve views --problem cosine-mult    # a loss of one weight; save views in views/
    Stop it with Ctrl-C.
    """
    from click.core import ParameterSource

    context = click.get_current_context()
    has_problem = any(context.get_parameter_source(name) == ParameterSource.COMMANDLINE for name in options)
    if not host.strip():
        raise UserError(f"--host {host!r} is not allowed: give an address such as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)")
    shown = _shown(directory, has_problem, options)
    import uvicorn

    from sweep.serve import create_app

    sock = _bound_socket(host, port)
    if not _is_loopback(host):
        click.echo(f"Warning: serving on {host}: anyone who can reach this machine can use the server and the CPUs it computes on", err=True)
    bound = sock.getsockname()
    shown_host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    config = uvicorn.Config(create_app(shown), log_level="warning", lifespan="on")
    say(f"sweep serve: open http://{shown_host}:{bound[1]}/ (Ctrl-C stops it)")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down cleanly, then passes Ctrl-C on
        pass
    say("stopped")


def _check_save_root(path, given: str) -> None:
    """The folder saved views go into (``check_name`` has refused a file) must be writable,
    or one that can be made."""
    import os

    if not path.exists():
        parent = path.parent
        if path.is_symlink() or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise UserError(f"DIRECTORY {given!r} cannot be made: {str(parent)!r} is not a folder this user can write in")
    elif not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"DIRECTORY {given!r} is not writable; saved views need a folder this user can write in")


def _bound_socket(host: str, port: int):
    """A listening socket on host:port, bound here so that the URL printed is the one served
    (with --port 0, the port the system chose).

    Raises:
        UserError: when the address cannot be bound (in use, or not this machine's).
    """
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        raise UserError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sock
