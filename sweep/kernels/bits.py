"""Bit-level tests on float64 step counters that vectorize in the lane loop, and the atomic
counter from which a kernel's threads take their blocks of runs.

The kernels count steps in float64 (exact below 2**53): integer counters beside float
state cost AVX2 extra instructions to convert every comparison mask. Brent's cycle test
saves the state at k = 0, 1, 2, 4, 8, ...; for a float k >= 0 that is "the mantissa bits are
all zero", a test on the bits of k with no state of its own.
"""

from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_MANTISSA = (1 << 52) - 1


@intrinsic
def bitcast_f2u(typingctx, value):
    """The IEEE 754 bits of a float64, as a uint64 (a register move, no memory)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.uint64(types.float64), codegen


@intrinsic
def bitcast_u2f(typingctx, bits):
    """The float64 whose IEEE 754 bits are the uint64 ``bits`` (a register move)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.uint64), codegen


@njit(cache=True, error_model="numpy", inline="always")
def save_point(k):
    """Whether the float step count k (0, 1, 2, ...) is 0 or a power of two."""
    return (bitcast_f2u(k) & _MANTISSA) == 0


@intrinsic
def fetch_add(typingctx, counter, value):
    """Add ``value`` to ``counter[0]`` (a 1-D int64 array shared by threads) and return what
    it held before, as one atomic instruction: threads that take work from the same counter
    each get a different number.

    Atomic, but with no order imposed on other memory ("monotonic"): nothing else is shared
    while the workers run (each writes its own runs' columns; the caller reads them after
    joining the threads). A sequentially consistent one is a fence to LLVM too, and kept it
    from moving loads across the network kernel's loop: 10% slower at width 16.
    """

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.atomic_rmw("add", array.data, args[1], "monotonic")

    return types.int64(types.Array(types.int64, 1, "C"), types.int64), codegen
