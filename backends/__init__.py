"""Backends train one (cell, seed) and return its result record.

``torch``: one device (cuda when available, else cpu). ``deepspeed``: many GPUs and
nodes through the DeepSpeed launcher. Both are registered in :data:`BACKENDS`.
"""

from __future__ import annotations

from typing import Any

from backends.base import BACKENDS, Backend

__all__ = ["BACKENDS", "Backend", "create_backend"]


def create_backend(name: str, options: Any = None) -> Backend:
    """Instantiate backend ``name`` with its options (``[backend.<name>]``)."""
    cls = BACKENDS.get(name)
    return cls(options if options is not None else cls.Options())


from backends import deepspeed  # noqa: E402,F401,I001  (registers "deepspeed")
from backends import torch_backend  # noqa: E402,F401  (registers "torch")
