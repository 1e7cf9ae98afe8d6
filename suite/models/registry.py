"""The model registry itself (``MODELS``, ``register_model``, ``create_model``): a leaf
module, so that the built-in models can import it without importing their package.
See :mod:`suite.models` for the builder protocol."""


from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from suite.data.info import DatasetInfo
from suite.models.checkpoint import ModelOptions
from suite.options import NoOptions
from suite.registry import Registry, instance_check


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its name, builder and options class."""

    name: str
    build: Callable[[DatasetInfo, Any], nn.Module]
    Options: type = ModelOptions
    description: str = ""
    #: The name tables and figures print (``ResNet-20``); ``[report.labels]`` overrides it.
    label: str = ""


MODELS: Registry[ModelEntry] = Registry("model", check=instance_check(ModelEntry))


def register_model(name: str, options: type = ModelOptions, label: str = "") -> Callable:
    """Decorator registering a builder ``build(info, options) -> nn.Module`` as ``name``,
    printed as ``label`` in tables (the name when empty).

    ``options`` should derive from ``ModelOptions`` (``NoOptions`` means ``ModelOptions``);
    a class that does not gives its model no ``checkpoint`` key.
    """
    options = ModelOptions if options is NoOptions else options

    def decorate(build: Callable) -> Callable:
        doc = (build.__doc__ or "").strip().splitlines()
        MODELS.register(name)(ModelEntry(name, build, options, doc[0] if doc else "", label))
        return build

    return decorate


def create_model(name: str, info: DatasetInfo, options: Any = None) -> nn.Module:
    """Build model ``name`` for a dataset described by ``info``."""
    entry = MODELS.get(name)
    return entry.build(info, options if options is not None else entry.Options())


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
