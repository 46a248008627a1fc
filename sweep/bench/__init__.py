"""The benchmark: sweep's kernel against the obvious implementations, in one process."""
