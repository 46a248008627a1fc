"""``sweep report``: the figures and the page of a results folder, drawn again."""

from __future__ import annotations

import click

from sweep.cli.output import say


@click.command("report")
@click.argument("directory")
@click.option("--x", "x_axis", default=None, help="Axis across the maps (default lr).")
@click.option("--y", "y_axis", default=None, help="Axis up the maps (default w0, or the first other swept axis).")
@click.option("--out", default=None, help="Folder for the report (default: DIRECTORY; other axes than the default ones get their own file names there, report-X-Y.html).")
def report_command(directory, x_axis, y_axis, out):
    """Draw the heatmaps and report.html for the results in DIRECTORY.

    Axes other than --x and --y that have several values are aggregated in each cell
    (majority outcome, outcome shares, means), and the report says so.

    \b
    Examples:
      sweep report sweep-results
      sweep report momentum-map --x lr --y w0               # writes report-lr-w0.html beside report.html
      sweep report momentum-map --x lr --y w0 --out redrawn
    """
    from sweep.plots.report import write_report

    say(f"report: {write_report(directory, x=x_axis, y=y_axis, into=out)}")
