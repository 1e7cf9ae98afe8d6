"""Plugins carry their own metadata (labels, dataset shapes): a new method, model or
dataset is printed and estimated from its own file, with no central table to edit."""

from __future__ import annotations

import pytest
from small_specs import TWO_METHODS

from methods import METHODS
from methods.dense import Dense
from suite.catalog import label
from suite.data import DATASETS
from suite.estimate import data_shape
from suite.models import MODELS
from suite.report import frame, summarize
from suite.spec import parse_spec


@pytest.mark.parametrize("registry", [METHODS, MODELS], ids=["methods", "models"])
def test_every_built_in_method_and_model_has_a_label(registry):
    for name in registry.names():
        assert getattr(registry.get(name), "label", ""), f"{name} has no label"


def test_labels_come_from_the_plugins_and_unknown_names_print_as_they_are():
    assert (label("dpf"), label("resnet20"), label("cifar10")) == ("DPF", "ResNet-20", "CIFAR-10")
    assert label("no_such_plugin") == "no_such_plugin" and label("synthetic") == "synthetic"


def test_dataset_shapes_for_the_estimate_come_from_the_plugins():
    shaped = [n for n in DATASETS.names() if DATASETS.get(n).shape is not None]
    assert {"cifar10", "cifar100", "imagenet", "fashion_mnist", "digits"} <= set(shaped)
    for name in shaped:
        assert data_shape(name, DATASETS.get(name).Options()) == DATASETS.get(name).shape


def test_a_new_method_is_labelled_by_its_own_class(monkeypatch):
    class Plain(Dense):
        """A throwaway method: dense training under another name."""

        name = "plain"
        label = "Plain (new)"

    monkeypatch.setitem(METHODS._items, "plain", Plain)
    spec = parse_spec(TWO_METHODS.replace('method = ["dense", "dpf"]', 'method = ["plain", "dpf"]'))
    table = summarize(spec, frame(spec, None))
    assert [table.label(m) for m in table.methods] == ["Plain (new)", "DPF"]
