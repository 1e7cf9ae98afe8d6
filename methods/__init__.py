"""Pruning methods: one module per method, all registered in :data:`METHODS`.

A method is a subclass of :class:`methods.base.Method`, registered with
``@METHODS.register("name")``. Adding a method means adding one file here (and its
import below) plus its test; the contract tests over the registry pick it up.
"""

from __future__ import annotations

from typing import Any

from methods.base import METHODS, Method, MethodContext

__all__ = ["METHODS", "Method", "MethodContext", "create_method"]


def create_method(name: str, options: Any, ctx: MethodContext) -> Method:
    """Instantiate method ``name`` with its options for one run."""
    cls = METHODS.get(name)
    return cls(options if options is not None else cls.Options(), ctx)


# Built-in methods register themselves on import.
from methods import (  # noqa: E402,F401
    dense,
    dpf,
    dsr,
    granet,
    incremental,
    lth,
    oneshot,
    random_mask,
    rigl,
    sm,
    snip,
    sparse_evolutionary,
)
