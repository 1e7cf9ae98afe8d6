"""ResNet-50 exactly as torchvision defines it (``weights=None``), sized by the dataset.

The classifier gets ``info.num_classes`` outputs; a dataset with other than 3 channels
gets a stem conv with that many input channels (same shape otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from suite.data.info import DatasetInfo
from suite.models.checkpoint import ModelOptions
from suite.models.registry import register_model


@dataclass(frozen=True)
class ResNet50Options(ModelOptions):
    """``[model.resnet50]``: ``zero_init_residual`` starts the last BN scale of each
    block at zero (Goyal et al. 2017 do; torchvision's default does not)."""

    zero_init_residual: bool = False


@register_model("resnet50", options=ResNet50Options, label="ResNet-50")
def resnet50(info: DatasetInfo, options: ResNet50Options) -> nn.Module:
    """ResNet-50 from torchvision (bottleneck v1.5; 25.6M parameters at 1000 classes)."""
    from torchvision.models import resnet50 as tv_resnet50

    model = tv_resnet50(weights=None, num_classes=info.num_classes,
                        zero_init_residual=options.zero_init_residual)
    channels = info.image_shape[0]
    if channels != 3:
        model.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model
