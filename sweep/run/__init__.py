"""How a sweep runs: SPECs into axes, every setting checked once into a Plan, and one executor
that cuts the grid into chunks (one when it fits in memory), runs them here or on Dask, and
turns each into a table and, when asked, a part file."""
