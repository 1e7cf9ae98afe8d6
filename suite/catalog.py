"""What ``suite list`` prints: one line per registered plugin."""

from __future__ import annotations

from backends import BACKENDS
from methods import METHODS
from suite.data import DATASETS
from suite.data.info import DatasetInfo
from suite.models import MODELS, create_model, parameter_count


def _first_line(obj: object) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


#: The input a model's parameter count is shown for: 10 classes, 3x32x32 images
#: (1000 classes, 3x224x224 for ImageNet-sized models is what their builders assume).
REFERENCE_INPUT = DatasetInfo(10, (3, 32, 32), (0.5,) * 3, (0.25,) * 3)


def describe(kind: str) -> list[str]:
    """Lines describing every plugin of ``kind`` (methods, models, datasets, backends)."""
    if kind == "methods":
        return [f"{n:14} v{METHODS.get(n).version}  {METHODS.get(n).mask_mode.name:9} "
                f"{_first_line(METHODS.get(n))}" for n in METHODS.names()]
    if kind == "models":
        lines = []
        for n in MODELS.names():
            entry = MODELS.get(n)
            count = parameter_count(create_model(n, REFERENCE_INPUT))
            lines.append(f"{n:14} {count:>12,} params  {entry.description}")
        lines.append("(parameter counts for 10 classes and 3x32x32 inputs)")
        return lines
    if kind == "datasets":
        return [f"{n:14} {_first_line(DATASETS.get(n))}" for n in DATASETS.names()]
    if kind == "backends":
        return [f"{n:14} {_first_line(BACKENDS.get(n))}" for n in BACKENDS.names()]
    raise ValueError(kind)


def label(name: str) -> str:
    """The label a method, model or dataset plugin carries for tables and figures
    (``dpf`` -> ``DPF``); its name when it has none or is not registered (any more)."""
    for registry in (METHODS, MODELS, DATASETS):
        if name in registry:
            return getattr(registry.get(name), "label", "") or name
    return name
