"""What the command prints: lines on stdout that survive a closed pipe, a spinner on the
terminal, and the numbers of a run in words a person reads."""

from __future__ import annotations

import os
import shlex
import sys
from contextlib import nullcontext

import click

_STDOUT_GONE = False


class Interrupted(Exception):
    """Ctrl-C during a streamed sweep: what was finished is kept."""


def say(text: str = "") -> None:
    """Print one line on stdout. When the reader has gone (``sweep run | head -1``), stop
    printing quietly and let the work finish: stdout is pointed at /dev/null, as Python's
    documentation advises for command-line tools that meet a closed pipe."""
    global _STDOUT_GONE
    if _STDOUT_GONE:
        return
    try:
        click.echo(text)
    except BrokenPipeError:
        _STDOUT_GONE = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def command_line() -> str:
    """The command as typed, for the record and for a second writer's message."""
    obj = click.get_current_context().find_root().obj or {}
    return "sweep " + " ".join(shlex.quote(arg) for arg in obj.get("argv", sys.argv[1:]))


def spinner(text: str, quiet: bool):
    """A spinner on stderr while a step runs, only on a terminal; otherwise nothing."""
    if quiet or not sys.stderr.isatty():
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(text)


def compile_step(compile_fn, quiet: bool) -> float:
    """Compile (or load) a kernel as its own step: a spinner while it runs, and a line
    after it when it took more than a second. Returns its seconds."""
    with spinner("compiling the kernel (first use; cached afterwards)...", quiet):
        seconds = compile_fn()
    if seconds > 1.0:
        say(f"compiled (or loaded) the kernel in {seconds:.1f} s (cached for later runs)")
    return seconds


def size_text(n_bytes: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.1f} {unit}"
    return f"{n_bytes:.0f} bytes"


def seconds_text(value: float) -> str:
    return f"{value:.2g} s" if value < 120 else f"{value / 60:.3g} minutes"


def counts_lines(counts, n_runs: int) -> None:
    """One line per outcome that occurred: its count and share."""
    from sweep.outcomes import OUTCOMES

    for name in OUTCOMES:
        if counts.get(name, 0):
            say(f"  {name:<10} {counts[name]:>12,}  ({counts[name] / n_runs:.1%})")
