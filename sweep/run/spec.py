"""Axis SPECs: the short strings that name the values of one sweep axis on the command line.

A SPEC is a comma-separated list of items; the axis is the sorted union of their values
(duplicates dropped, so an axis is a set of values):

- ``0.4``                  one number;
- ``START:STOP:NUM``       NUM values evenly spaced from START to STOP, both included
  (``numpy.linspace``);
- ``START:STOP:NUM:log``   NUM values log-spaced from START to STOP, both included and exact
  (``geometric_grid``: correctly rounded, the same bits on every machine); START and STOP
  must be > 0;
- ``randint:LOW:HIGH:N:SEED``  N integers drawn by ``numpy.random.RandomState(SEED).randint(LOW,
  HIGH, size=N)``, HIGH excluded. ``randint:-2:3:1:0`` gives 2, the initial weight of the teaching
  example (``np.random.seed(0); np.random.randint(-2, 3)``);
- ``uniform:LOW:HIGH:N:SEED``  N floats from ``RandomState(SEED).uniform(LOW, HIGH, size=N)``.

Examples: ``0.4,0.001,10``; ``1e-3:10:200:log``; ``1e-3:10:120:log,0.4`` (a log grid that also
holds 0.4 exactly); ``-2:3:101``.
"""

from __future__ import annotations

import math

import numpy as np

from sweep.errors import SpecError

SPEC_HELP = (
    "a comma list of numbers (0.4,0.001,10), ranges START:STOP:NUM[:log] (1e-3:10:200:log), "
    "or seeded draws randint:LOW:HIGH:N:SEED / uniform:LOW:HIGH:N:SEED"
)

#: Upper bound on the values one SPEC item may produce, so a typo cannot ask for 10**12 values.
MAX_AXIS_VALUES = 100_000_000


def _in(text: str, item: str) -> str:
    """Where a bad field sits, unless it is the whole item (``'abc'``, not ``'abc' in 'abc'``)."""
    return "" if text == item else f" in {item!r}"


def _number(text: str, item: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SpecError(f"{text!r}{_in(text, item)} is not a number; a SPEC is {SPEC_HELP}") from None
    if not np.isfinite(value):
        raise SpecError(f"{text!r}{_in(text, item)} is not finite; a SPEC is {SPEC_HELP}")
    return value


def _count(text: str, item: str) -> int:
    try:
        count = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if number.is_integer():  # '1e12': a whole number, written as a float
            raise SpecError(f"count {text!r}{_in(text, item)} must be written as digits and lie in 1..{MAX_AXIS_VALUES}") from None
        raise SpecError(f"count {text!r}{_in(text, item)} is not a whole number; a SPEC is {SPEC_HELP}") from None
    if not 1 <= count <= MAX_AXIS_VALUES:
        raise SpecError(f"count {count}{_in(text, item)} must lie in 1..{MAX_AXIS_VALUES}")
    return count


def _random_item(kind: str, fields: list[str], item: str) -> np.ndarray:
    if len(fields) != 4:
        raise SpecError(f"{item!r} must read {kind}:LOW:HIGH:N:SEED")
    low, high = (_number(f, item) for f in fields[:2])
    size = _count(fields[2], item)
    try:
        seed = int(fields[3])
    except ValueError:
        raise SpecError(f"seed {fields[3]!r}{_in(fields[3], item)} is not a whole number") from None
    if not 0 <= seed < 2**32:
        raise SpecError(f"seed {seed} in {item!r} must lie in 0..2**32-1")
    if high <= low:
        raise SpecError(f"{item!r} needs LOW < HIGH")
    # The legacy RandomState stream is what np.random.seed/np.random.randint use, so the
    # teaching example's draw is reproduced exactly.
    state = np.random.RandomState(seed)
    try:
        if kind == "randint":
            if low != int(low) or high != int(high):
                raise SpecError(f"{item!r}: randint needs whole-number LOW and HIGH")
            return state.randint(int(low), int(high), size=size).astype(np.float64)
        values = state.uniform(low, high, size=size)
    except (ValueError, OverflowError) as error:
        if isinstance(error, SpecError):
            raise
        raise SpecError(f"{item!r}: LOW and HIGH are out of range for {kind} ({error})") from None
    if not np.isfinite(values).all():
        raise SpecError(f"{item!r}: HIGH - LOW overflows a float64")
    return values


def geometric_grid(start: float, stop: float, num: int) -> np.ndarray:
    """``num`` values from ``start`` to ``stop`` in geometric progression, both ends exact:
    value k is start * (stop / start) ** (k / (num - 1)), correctly rounded to float64 (but
    for a value within about 2**-100 of a tie between two floats), with the same bits on
    every machine.

    ``numpy.geomspace`` takes its values from NumPy's power, whose SIMD versions differ in
    the last bit between instruction sets: 8 of the 122 learning rates of ``sweep run``'s
    default grid differed between an AVX2 and an AVX-512 machine, so one command gave
    different runs there. Here, with k = q * B + s and B = ceil(sqrt(num)), mpmath gives
    start * ratio ** (q * B / (num - 1)) and ratio ** (s / (num - 1)) at 128 bits, each as a
    pair of floats (a double-double; the first scaled by a power of two into [0.5, 1)), and
    their products use IEEE multiplications and additions only (Dekker's exact product).

    Args:
        start, stop: finite floats > 0 (normal numbers: an end below 2.2e-308 may leave a
            value one unit in the last place off).
        num: number of values, >= 1 (1 gives [start]).

    Returns:
        (num,) float64.

    Raises:
        ValueError: when start or stop is not finite and > 0, or num < 1.
    """
    import mpmath

    # Dekker's exact product, the kernels' own (plain Python on arrays here)
    from sweep.kernels.expfun import _two_prod

    if not (math.isfinite(start) and math.isfinite(stop) and start > 0 and stop > 0):
        raise ValueError(f"a geometric grid needs finite ends > 0, got {start!r} and {stop!r}")
    if num < 1:
        raise ValueError(f"a geometric grid needs at least 1 value, got {num!r}")
    values = np.empty(num)
    values[0] = start
    if num == 1:
        return values
    span = math.isqrt(num - 1) + 1
    with mpmath.workprec(128):
        first, ratio = mpmath.mpf(start), mpmath.mpf(stop) / mpmath.mpf(start)

        def pair(x):
            hi = float(x)
            return hi, float(x - hi)

        fine = np.array([pair(ratio ** (mpmath.mpf(s) / (num - 1))) for s in range(span)])
        coarse = []
        for q in range(-(-num // span)):
            mantissa, exponent = mpmath.frexp(first * ratio ** (mpmath.mpf(q * span) / (num - 1)))
            coarse.append((*pair(mantissa), int(exponent)))
    for q, (hi, lo, exponent) in enumerate(coarse):
        k = slice(q * span, min(num, (q + 1) * span))
        g_hi, g_lo = fine[: k.stop - k.start, 0], fine[: k.stop - k.start, 1]
        p, e = _two_prod(np.full(g_hi.size, hi), g_hi)
        values[k] = np.ldexp(p + (e + (hi * g_lo + lo * g_hi)), exponent)
    values[0], values[-1] = start, stop
    return values


def _range_item(fields: list[str], item: str) -> np.ndarray:
    if len(fields) == 4 and fields[3] != "log":
        raise SpecError(f"the 4th field of {item!r} must be 'log', got {fields[3]!r}")
    start, stop = _number(fields[0], item), _number(fields[1], item)
    num = _count(fields[2], item)
    if num == 1:
        return np.array([start])
    with np.errstate(all="ignore"):
        if len(fields) == 4:
            if start <= 0 or stop <= 0:
                raise SpecError(f"a log range needs START > 0 and STOP > 0, got {item!r}")
            values = geometric_grid(start, stop, num)
        else:
            values = np.linspace(start, stop, num)
    if not np.isfinite(values).all():
        raise SpecError(f"the range {item!r} overflows a float64 (STOP - START is too large)")
    return values


def _item_values(item: str) -> np.ndarray:
    fields = item.split(":")
    if len(fields) == 1:
        return np.array([_number(fields[0], item)])
    if fields[0] in ("randint", "uniform"):
        return _random_item(fields[0], fields[1:], item)
    if len(fields) in (3, 4):
        return _range_item(fields, item)
    raise SpecError(f"cannot read {item!r}; a SPEC is {SPEC_HELP}")


def parse_spec(spec: str) -> np.ndarray:
    """Read a SPEC string into the sorted, duplicate-free values of one axis.

    Args:
        spec: the SPEC text, for example ``"1e-3:10:200:log,0.4"`` (see the module docstring).

    Returns:
        1-D float64 array, sorted ascending, without duplicates, at least one value.

    Raises:
        SpecError: for an empty SPEC, an empty item, a malformed number, count or seed, a log
            range touching zero or below, or more than ``MAX_AXIS_VALUES`` values. The message is
            one line naming the bad part.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(f"empty SPEC; a SPEC is {SPEC_HELP}")
    parts = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            raise SpecError(f"empty item in SPEC {spec!r}; a SPEC is {SPEC_HELP}")
        parts.append(_item_values(item))
    values = np.unique(np.concatenate(parts))
    if values.size > MAX_AXIS_VALUES:
        raise SpecError(f"SPEC {spec!r} gives {values.size} values, more than {MAX_AXIS_VALUES}")
    return values
