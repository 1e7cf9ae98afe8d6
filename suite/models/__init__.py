"""The model registry: ``@register_model(name)`` on a builder, ``create_model`` to build one.

A builder has the signature ``build(info: DatasetInfo, options) -> nn.Module``: it
gets the dataset's classes and image shape, so one model name works on any dataset
it fits. ``options`` is an instance of the dataclass given to ``register_model``
(filled from the spec's ``[model.<name>]`` table). Options classes derive from
:class:`~suite.models.checkpoint.ModelOptions`, so that every model can start from a
trained state dict (``checkpoint``); a builder registered without options gets
``ModelOptions`` itself, and the checkpoint is loaded by the backends, not the builder.
"""

# Built-in models register themselves on import.
from suite.models import imagenet, resnet_cifar, small, vgg, wide_resnet  # noqa: E402,F401
from suite.models.registry import MODELS, ModelEntry, create_model, parameter_count, register_model

__all__ = ["MODELS", "ModelEntry", "create_model", "parameter_count", "register_model"]
