"""The dataset registry and the protocol every dataset plugin follows.

A plugin is a subclass of :class:`Dataset` registered with ``@DATASETS.register(name)``.
It knows its :class:`DatasetInfo` and loads a split as a :class:`TensorSplit`
(uint8 images N x C x H x W plus int64 labels) that the in-memory pipeline batches,
augments and normalizes on the training device. The trainer asks a dataset for a
:class:`Loader` with :meth:`Dataset.loader`; the default wraps ``load(split)`` in the
in-memory pipeline, and a dataset too large for memory (ImageNet) overrides it to
stream from disk. Options come from the spec's
``[dataset.<name>]`` table; fields marked ``identity=False`` (paths) are not part of
a cell's id.
"""

# Built-in datasets register themselves on import.
from suite.data import cifar, fashion_mnist, imagenet, small  # noqa: E402,F401
from suite.data.base import DATASETS, Dataset, create_dataset
from suite.data.split import Loader, Split, TensorSplit

__all__ = ["DATASETS", "Dataset", "Loader", "Split", "TensorSplit", "create_dataset"]
