"""Pruning methods: one module per method, all registered in :data:`METHODS`.

A method is a subclass of :class:`methods.base.Method`, registered with
``@METHODS.register("name")``. Adding a method means adding one file here plus its
test: every module of this package is imported below, so the method registers itself,
and the contract tests over the registry pick it up.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from methods.base import METHODS, Method, MethodContext

__all__ = ["METHODS", "Method", "MethodContext", "create_method"]


def create_method(name: str, options: Any, ctx: MethodContext) -> Method:
    """Instantiate method ``name`` with its options for one run."""
    cls = METHODS.get(name)
    return cls(options if options is not None else cls.Options(), ctx)


# Built-in methods register themselves on import: every module of the package, by name.
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
