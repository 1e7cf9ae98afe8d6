"""suite: a declarative benchmark suite for neural-network pruning.

A TOML spec declares a method x model x dataset x sparsity grid; the runner expands
it into cells with content-derived ids, skips what the store already holds, trains
the rest through a backend, and the report module renders the stored results.
"""

__version__ = "0.1.0"
