"""How a run moves: optimizers (the update rule), learning-rate schedules and gradient noise.

Each is a table of contracts that the kernel generator (``sweep.kernels.generator``) stitches
into one lockstep loop; none of them touches the loop itself.
"""
