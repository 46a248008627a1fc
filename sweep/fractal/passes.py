"""Generate the network kernel's module: a pass over data points, unrolled for one width.

The kernel (``sweep/kernels/network_template.py``) runs BLOCK networks in lockstep with the
run index innermost, so each scalar of the textbook algorithm becomes a vector of BLOCK
lanes. Its inner work, the forward and backward pass over a few data points, is generated
here as straight-line code for the given width: with n known, every weight of a lane is a
constant offset into one flat state array. That lets LLVM prove that no two rows overlap,
which it must before it vectorizes a lane loop, and keep a lane's sums in registers.
"""

from __future__ import annotations

import functools
from types import ModuleType

from sweep.kernels.cache import load_source

#: Data points per pass: each weight row loaded in the forward pass, and each gradient row
#: loaded and stored in the backward pass, serves this many points. Measured on 2 cores,
#: width 16: 1 point 1x, 2 points 1.1x, 4 points 1.4x; 8 points no faster, and LLVM then
#: takes minutes to compile the pass.
POINTS = 4
#: Runs per lockstep block: one AVX-512 vector of float64. With more, the weights and
#: gradients of a width-16 block (2 * 16 * 16 * BLOCK float64) outgrow the L1 cache:
#: 16 runs ran at half the speed.
BLOCK = 8

_HEADER = '''\
import math

import numpy as np
from numba import njit, prange

from sweep.kernels.activations import vtanh

BLOCK = {block}
N = {n}
POINTS = {points}
SQRT2 = math.sqrt(2.0)
INV_SQRT_N = 1.0 / math.sqrt(N)
INV_N = 1.0 / N
# A block's state is one flat array of rows of BLOCK lanes: W1 (N*N rows, row i*N + j for
# W1[i, j]), W2 (N rows), their gradients, the loss, and scratch rows for POINTS data
# points' pre-activations, activations and slopes.
W1_AT, W2_AT, G1_AT, G2_AT, LOSS_AT = 0, N * N, N * N + N, 2 * N * N + N, 2 * N * N + 2 * N
Z_AT = LOSS_AT + 1
H_AT = Z_AT + POINTS * N
S_AT = H_AT + POINTS * N
ROWS = S_AT + POINTS * N


'''

_PASS = '''\
# "contract" lets LLVM fuse a * b + c into one FMA instruction: twice the arithmetic per
# cycle. It is the only fast-math flag: comparisons with NaN and inf keep their meaning.
@njit(cache=True, error_model="numpy", fastmath={{"contract"}})
def {name}(X, Y, d, lanes):
    """Add the squared errors of data points d..d+{last} to the loss row and their gradient
    (without the 2/D of the mean) to the gradient rows, for every lane.

    Three lane loops, each simple enough for LLVM to vectorize: the input layer, the
    nonlinearity, and the output layer with the backward pass.
    """
{inputs}
    for lane in range(BLOCK):
{forward}
    for row in range({activations}):
        for lane in range(BLOCK):
            z = lanes[(Z_AT + row) * BLOCK + lane]
{activation}
            lanes[(H_AT + row) * BLOCK + lane] = h
            lanes[(S_AT + row) * BLOCK + lane] = s
    for lane in range(BLOCK):
{backward}


'''

# The notebook's nonlinearities and their derivatives, of the scaled pre-activation z.
_ACTIVATIONS = {
    "tanh": ("h = vtanh(SQRT2 * z)", "s = SQRT2 * (1.0 - h * h)"),
    "relu": ("h = SQRT2 * z if z > 0.0 else 0.0", "s = SQRT2 if z > 0.0 else 0.0"),
    "identity": ("h = z", "s = 1.0"),
}


def _pass_source(name: str, n: int, points: int, nonlinearity: str) -> str:
    def at(row: int) -> str:  # lane of a row of the flat state, at a constant offset
        return f"lanes[{row * BLOCK} + lane]"

    w1, w2, g1, g2, loss = 0, n * n, n * n + n, 2 * n * n + n, 2 * n * n + 2 * n
    # the scratch rows are laid out for POINTS points (the header's Z_AT, H_AT, S_AT), whatever this pass handles
    z, h, s = loss + 1, loss + 1 + POINTS * n, loss + 1 + 2 * POINTS * n
    ps = range(points)
    inputs = [f"x{p}_{i} = X[d + {p}, {i}]" for p in ps for i in range(n)] + [f"y{p} = Y[d + {p}]" for p in ps]
    # Each weight row is loaded once and used for every point (LLVM merges the loads).
    forward = [f"{at(z + p * n + j)} = (" + " + ".join(f"x{p}_{i} * {at(w1 + i * n + j)}" for i in range(n)) + ") * INV_SQRT_N" for p in ps for j in range(n)]
    backward = []
    for p in ps:
        backward.append(f"err{p} = (" + " + ".join(f"{at(h + p * n + j)} * {at(w2 + j)}" for j in range(n)) + f") * INV_N - y{p}")
        backward += [f"{at(loss)} += err{p} * err{p}", f"e{p} = err{p} * INV_N"]
    # g = g + a*b + c*d: a chain of fused multiply-adds (g += a*b + c*d would add a product).
    backward += [f"{at(g2 + j)} = {at(g2 + j)} + " + " + ".join(f"e{p} * {at(h + p * n + j)}" for p in ps) for j in range(n)]
    backward += [f"dz{p}_{j} = e{p} * {at(w2 + j)} * {at(s + p * n + j)} * INV_SQRT_N" for p in ps for j in range(n)]
    backward += [f"{at(g1 + i * n + j)} = {at(g1 + i * n + j)} + " + " + ".join(f"x{p}_{i} * dz{p}_{j}" for p in ps) for i in range(n) for j in range(n)]
    return _PASS.format(
        name=name,
        last=points - 1,
        inputs="\n".join("    " + line for line in inputs),
        forward="\n".join(" " * 8 + line for line in forward),
        activations=points * n,
        activation="\n".join(" " * 12 + line for line in _ACTIVATIONS[nonlinearity]),
        backward="\n".join(" " * 8 + line for line in backward),
    )


def network_problem(width: int, nonlinearity: str):
    """The network as a problem part for the kernel generator: the state layout and the
    generated passes over POINTS data points (``add_points``) and over one (``add_point``).

    Args:
        width: hidden width n >= 1 (the passes are unrolled: the text grows as n**2).
        nonlinearity: "tanh", "relu" or "identity".

    Raises:
        KeyError: for another nonlinearity.
    """
    from sweep.kernels.generator import NetworkProblem

    header = _HEADER.format(n=width, nonlinearity=nonlinearity, block=BLOCK, points=POINTS)
    passes = _pass_source("add_points", width, POINTS, nonlinearity) + _pass_source("add_point", width, 1, nonlinearity)
    return NetworkProblem(width, header + passes, description=f"a width-{width} {nonlinearity} network")


@functools.lru_cache(maxsize=16)
def network_kernel_module(width: int, nonlinearity: str, optimizer: str = "gd") -> ModuleType:
    """The compiled network kernel for a width, nonlinearity and optimizer (generated,
    cached on disk by Numba, imported)."""
    from sweep.kernels.generator import KernelSpec, kernel_source
    from sweep.optim.optimizers import OPTIMIZERS
    from sweep.optim.schedules import SCHEDULES

    spec = KernelSpec(network_problem(width, nonlinearity), OPTIMIZERS[optimizer], SCHEDULES["constant"], lanes=BLOCK, substeps=1)
    return load_source(kernel_source(spec))
