"""What is minimized: losses of one or several weights (formulas and built-ins), and models
on real data. Each problem knows its weights, its parameters and its theory, and prints its
own code for the kernel generator."""
