"""Matrix products inside Numba kernels through the BLAS that SciPy ships (dgemm from
``scipy.linalg.cython_blas``), into buffers the kernel owns.

A model's step on a block of runs is two matrix products (z = X W and g = X^T r): BLAS does
them near the machine's matrix-multiply rate, where a loop of multiply-adds reaches a small
fraction of it. ``np.dot`` in Numba would allocate its result at every step; calling dgemm
directly writes into a buffer allocated once.

BLAS is column-major and sweep's arrays are row-major (C order): a C-order (m, n) array is
the column-major n x m matrix of its transpose, so C = A B is computed as C^T = B^T A^T.
Each product is computed with BLAS's own threads left to the caller: sweep runs one worker
per core and limits BLAS to one thread meanwhile (``sweep.run.executor``), so that products
never wait on each other.
"""

from __future__ import annotations

import llvmlite.binding as llvm
import numpy as np
from numba import njit, types
from numba.extending import get_cython_function_address

# The symbol is registered with LLVM by name, so compiled kernels refer to it by name and
# Numba can cache them (a ctypes pointer would be a "dynamic global" that it cannot cache).
# Fortran's dgemm takes every argument by reference: 13 pointers.
llvm.add_symbol("sweep_dgemm", get_cython_function_address("scipy.linalg.cython_blas", "dgemm"))
_dgemm = types.ExternalFunction("sweep_dgemm", types.void(*[types.voidptr] * 13))


@njit(cache=True, nogil=True)
def _call(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc):
    """dgemm: c = op(a) op(b), column-major, alpha 1, beta 0 (the arguments as BLAS takes them)."""
    ta = np.full(1, trans_a, np.uint8)
    tb = np.full(1, trans_b, np.uint8)
    dims = np.array([m, n, k, lda, ldb, ldc], np.int32)
    scale = np.array([1.0, 0.0])
    _dgemm(ta.ctypes, tb.ctypes, dims[0:].ctypes, dims[1:].ctypes, dims[2:].ctypes, scale.ctypes, a.ctypes, dims[3:].ctypes, b.ctypes, dims[4:].ctypes, scale[1:].ctypes, c.ctypes, dims[5:].ctypes)


_N, _T = ord("N"), ord("T")


@njit(cache=True, nogil=True)
def matmul(A, B, C):
    """C = A @ B for C-contiguous float64 arrays A (m, k), B (k, n), C (m, n)."""
    m, k = A.shape
    n = B.shape[1]
    # C^T (n x m, column-major) = B^T (n x k) A^T (k x m)
    _call(_N, _N, n, m, k, B, n, A, k, C, n)


@njit(cache=True, nogil=True)
def matmul_tn(A, B, C):
    """C = A.T @ B for C-contiguous float64 arrays A (k, m), B (k, n), C (m, n)."""
    k, m = A.shape
    n = B.shape[1]
    # C^T (n x m) = B^T (n x k) A (k x m); A as stored is the column-major m x k matrix A^T
    _call(_N, _T, n, m, k, B, n, A, m, C, n)
