"""The errors a user's input can cause: each carries one line that names the bad value and
what is allowed, and the command line prints it as ``Error: ...`` without a traceback.

Kept free of heavy imports, so that the command line can recognise them before NumPy or
Numba is loaded.
"""


class UserError(Exception):
    """Base of every error caused by the input rather than by sweep itself."""


class SweepError(UserError, ValueError):
    """Bad sweep input: an axis, a setting, an optimizer or a combination of them."""


class SpecError(UserError, ValueError):
    """A SPEC string that cannot be read."""


class FormulaError(UserError, ValueError):
    """A loss formula that is not allowed."""


class ModelError(UserError, ValueError):
    """A model or dataset that cannot be used."""


class StoreError(UserError, OSError):
    """A results folder or file that cannot be written or read."""


class FractalError(UserError, ValueError):
    """A trainability experiment or window that cannot be computed."""


class NetworkError(UserError, ValueError):
    """A network setting outside what the trainability experiment allows."""
