"""Every registered model: forward shapes on several datasets; the paper's models:
exact parameter counts and MACs (pinned literals; a change here changes results).

Counts and MACs are taken on the meta device (shapes only, no memory, no init time).
"""

from __future__ import annotations

import functools

import pytest
import torch

from suite.data.info import DatasetInfo
from suite.models import MODELS, create_model, parameter_count
from suite.models.checkpoint import ModelOptions
from suite.models.imagenet import ResNet50Options
from suite.models.macs import layer_macs
from suite.models.resnet_cifar import ResNetCifarOptions
from suite.models.wide_resnet import WideResNetOptions

CIFAR10 = DatasetInfo(10, (3, 32, 32), (0.5,) * 3, (0.25,) * 3)
CIFAR100 = DatasetInfo(100, (3, 32, 32), (0.5,) * 3, (0.25,) * 3)
FASHION = DatasetInfo(10, (1, 28, 28), (0.5,), (0.25,))
DIGITS = DatasetInfo(10, (1, 8, 8), (0.5,), (0.25,))
IMAGENET = DatasetInfo(1000, (3, 224, 224), (0.5,) * 3, (0.25,) * 3)

#: Trainable parameters on CIFAR-10 (10 classes) and CIFAR-100.
PARAMS = {
    "resnet20": (269_722, 275_572),
    "resnet32": (464_154, 470_004),
    "resnet56": (853_018, 858_868),
    "wrn28_2": (1_467_610, 1_479_220),
    "wrn28_4": (5_849_050, 5_872_180),
    "wrn28_8": (23_354_842, 23_401_012),
    "vgg16": (14_724_042, 14_770_212),
    "resnet50": (23_528_522, 23_712_932),
}
PAPER_MODELS = sorted(PARAMS)


def meta_model(name, info, options=None):
    with torch.device("meta"):
        return create_model(name, info, options)


def macs(name, info):
    return sum(layer_macs(meta_model(name, info), info.image_shape).values())


@functools.cache
def built(name, info):
    torch.manual_seed(0)
    return create_model(name, info).eval()


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_parameter_counts(name):
    assert parameter_count(meta_model(name, CIFAR10)) == PARAMS[name][0]
    assert parameter_count(meta_model(name, CIFAR100)) == PARAMS[name][1]


def test_resnet50_is_torchvisions():
    from torchvision.models import resnet50

    model = meta_model("resnet50", IMAGENET)
    assert parameter_count(model) == 25_557_032
    with torch.device("meta"):
        reference = resnet50(weights=None)
    assert [(n, p.shape) for n, p in model.named_parameters()] == \
        [(n, p.shape) for n, p in reference.named_parameters()]
    zero = create_model("resnet50", IMAGENET, ResNet50Options(zero_init_residual=True))
    assert zero.layer1[0].bn3.weight.abs().sum() == 0


def test_resnet_shortcut_b_adds_projections():
    model = meta_model("resnet20", CIFAR10, ResNetCifarOptions(shortcut="B"))
    # two 1x1 projections (16->32, 32->64) with batch norm
    assert parameter_count(model) == 269_722 + 16 * 32 + 32 * 64 + 2 * (32 + 64)


def test_macs():
    resnet20, wrn = macs("resnet20", CIFAR10), macs("wrn28_2", CIFAR10)
    assert resnet20 == 40_551_040 and abs(resnet20 / 41e6 - 1) < 0.02
    assert wrn == 214_353_152 and abs(wrn / 216e6 - 1) < 0.02
    assert macs("resnet50", IMAGENET) == 4_089_184_256  # the usual "4.1 GMACs"
    assert macs("vgg16", CIFAR10) == 313_201_664
    # real weights give the same counts as the meta device
    real = sum(layer_macs(built("resnet20", CIFAR10), CIFAR10.image_shape).values())
    assert real == resnet20


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("info", [CIFAR10, FASHION, DIGITS], ids=["c10", "fmnist", "8x8"])
def test_forward_shape(name, info):
    model = built(name, info)
    first = next(m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    if isinstance(first, torch.nn.Conv2d):
        assert first.in_channels == info.image_shape[0]
    with torch.no_grad():
        out = model(torch.randn(2, *info.image_shape))
    assert out.shape == (2, info.num_classes) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["resnet20", "wrn28_2", "vgg16"])
def test_train_step_channels_last(name):
    torch.manual_seed(0)
    model = create_model(name, CIFAR10).to(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_options_classes():
    assert MODELS.get("resnet20").Options is ResNetCifarOptions
    assert MODELS.get("wrn28_2").Options is WideResNetOptions
    assert MODELS.get("vgg16").Options is ModelOptions  # registered with NoOptions
    assert all(issubclass(MODELS.get(n).Options, ModelOptions) for n in MODELS.names())
    assert WideResNetOptions(dropout=1.0).validate() is not None
    assert WideResNetOptions(dropout=0.3).validate() is None
    model = create_model("wrn28_2", CIFAR10, WideResNetOptions(dropout=0.3)).train()
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(1)
    assert not torch.equal(a, model(x))  # dropout acts in training mode


def test_descriptions_are_set():
    for name in PAPER_MODELS:
        assert MODELS.get(name).description
