"""The command line's parameter types and shared options, declared once.

SPECs, ``NAME=VALUE`` pairs and ``A:B`` ranges are click parameter types
(``click.ParamType.convert`` calling ``self.fail``), so a bad value is one line that names
the option; the libraries behind them are imported only when a value is converted, so that
``sweep --help`` answers at once.
"""

from __future__ import annotations

import click

SPEC_HELP = (
    "a comma list of numbers (0.4,0.001,10), ranges START:STOP:NUM[:log] (1e-3:10:200:log), "
    "or seeded draws randint:LOW:HIGH:N:SEED / uniform:LOW:HIGH:N:SEED"
)


class Spec(click.ParamType):
    """An axis SPEC (``sweep.run.spec``) read into its sorted values."""

    name = "SPEC"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        from sweep.errors import SpecError
        from sweep.run.spec import parse_spec

        try:
            return parse_spec(value)
        except SpecError as error:
            self.fail(_spec_message(value, value, error), param, ctx)


def _spec_message(value: str, spec: str, error) -> str:
    """A SPEC's error after click's "Invalid value for '--lr':", saying the value once:
    ``'1:2:x': count 'x' is not a whole number``, not ``--lr '1:2:x': count 'x' in '1:2:x' ...``."""
    message = str(error).replace(f" in {spec!r}", "")
    return message if message.startswith(repr(value)) else f"{value!r}: {message}"


class NameValue(click.ParamType):
    """``NAME=NUMBER``, as a (name, float) pair."""

    name = "NAME=VALUE"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        name, sep, text = value.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            return name.strip(), float(text)
        except ValueError:
            self.fail(f"{value!r} must read NAME=NUMBER, for example a=2", param, ctx)


class NameSpec(click.ParamType):
    """``NAME=SPEC`` (a loss parameter, or one weight's starts), as a (name, value) pair: a
    plain number stays a float, any other SPEC becomes its axis of values. With
    ``bare=True`` a SPEC without a name is allowed too, as ("", axis)."""

    name = "NAME=SPEC"

    def __init__(self, bare: bool = False):
        self.bare = bare

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        from sweep.errors import SpecError
        from sweep.run.spec import parse_spec

        name, sep, text = value.partition("=")
        if self.bare and not sep and value.startswith("cloud:"):
            return "", value  # a cloud of starting points: the plan reads it
        if not sep:
            if self.bare:
                name, text = "", value
            else:
                self.fail(f"{value!r} must read NAME=VALUE or NAME=SPEC, for example a=2 or kappa=1:1000:31:log", param, ctx)
        elif not name.strip().isidentifier():
            self.fail(f"{value!r}: {name.strip()!r} is not a name; write NAME=SPEC, for example x=-2:2:41", param, ctx)
        try:
            return name.strip(), float(text)
        except ValueError:
            pass
        try:
            return name.strip(), parse_spec(text)
        except SpecError as error:
            self.fail(_spec_message(value, text, error), param, ctx)


class Range(click.ParamType):
    """``A:B`` or ``A:B:log`` / ``A:B:linear``, as (A, B, log or None)."""

    name = "A:B[:log|linear]"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        parts = value.split(":")
        try:
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("log", "linear")):
                raise ValueError
            lo, hi = float(parts[0]), float(parts[1])
        except ValueError:
            self.fail(f"{value!r} must read A:B or A:B:log or A:B:linear, for example 1e-3:1e6", param, ctx)
        return lo, hi, (parts[2] == "log") if len(parts) == 3 else None


SPEC = Spec()
NAME_VALUE = NameValue()
NAME_SPEC = NameSpec()
START_SPEC = NameSpec(bare=True)
RANGE = Range()


def params_dict(pairs, option: str = "--param") -> dict:
    """``--param`` (or ``--w0``) pairs as a dict, refused in one line when a name is given twice."""
    found: dict = {}
    for name, value in pairs:
        if name in found:
            raise click.BadParameter(f"{name!r} is given twice; give each once", param_hint=option)
        found[name] = value
    return found


def threads_option(command):
    return click.option("--threads", type=int, default=None, help="Threads (default: all cores); results do not depend on it.")(command)


def quiet_option(command):
    return click.option("--quiet", is_flag=True, help="No progress bar or spinner.")(command)


def param_option(command):
    return click.option("--param", "params", type=NAME_SPEC, multiple=True, help="A loss parameter (repeatable): a value, --param a=2, or an axis, --param kappa=1:1000:31:log.")(command)
