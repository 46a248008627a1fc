"""The ``sweep`` command: one thin module per command over the library; every error is one
``Error:`` line, never a traceback.

Only click, sweep's error classes and its small tables are imported at start-up; each
command imports what it needs when it runs, so that ``sweep --help`` and a mistyped option
answer at once.
"""

from __future__ import annotations

import sys

import click

from sweep.cli.bench import bench_command
from sweep.cli.compare import compare_command
from sweep.cli.fractal import fractal_command
from sweep.cli.output import Interrupted, say
from sweep.cli.report import report_command
from sweep.cli.run import run_command
from sweep.cli.serve import serve_command
from sweep.cli.zoom import zoom_command
from sweep.errors import UserError

_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sweep")
def cli():
    """Map where gradient descent converges, crawls, stalls, cycles or diverges.

    Start with `sweep run`, which runs the classic teaching example over a grid of learning
    rates and initial weights and writes a report.
    """


for command in (run_command, report_command, compare_command, bench_command, fractal_command, zoom_command, serve_command):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the CLI, turning user errors into one ``Error:`` line."""
    try:
        args = sys.argv[1:] if argv is None else list(argv)
        cli.main(args=args, prog_name="sweep", standalone_mode=False, obj={"argv": args})
    except click.exceptions.Abort:
        click.echo("Error: interrupted", err=True)
        return 130
    except Interrupted as stop:
        click.echo(f"Error: {stop}", err=True)
        return 130
    except _NO_ARGS as request:  # bare `sweep`: show the help, as a person expects
        say(request.ctx.get_help())
        return 0
    except click.ClickException as error:
        click.echo(f"Error: {error.format_message()}", err=True)
        return error.exit_code
    except UserError as error:
        click.echo(f"Error: {error}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("Error: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    return 0


__all__ = ["cli", "main"]
