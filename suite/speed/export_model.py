"""The final pruned model in forms other tools load, under ``<run dir>/export/``:

- ``weights.safetensors``: the masked model's state dict plus each prunable weight's
  mask (``<weight name>.mask``, uint8, 1 = kept);
- ``shrunk.pt``: the shrunk model as TorchScript (``torch.jit.load`` needs no suite
  code), for filter-structured runs;
- ``shrunk.onnx``: the same as ONNX, when the ``onnx`` package is installed (a failed
  export is listed in the record, not raised).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from methods.base import default_prunable
from suite.errors import SuiteError


def masks_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """The mask of each prunable weight, read from its zeros (uint8, 1 = kept)."""
    return {f"{name}.mask": (p.detach() != 0).to(torch.uint8) for name, p in default_prunable(model).items()}


def export(masked: nn.Module, shrunk: nn.Module | None, out: Path, example: torch.Tensor) -> list[str]:
    """Write the files above into ``out``; returns their names."""
    try:
        from safetensors.torch import save_file
    except ImportError:
        raise SuiteError("exporting weights needs safetensors: pip install 'pruning-suite[speed]' "
                         "(or give --no-export)") from None

    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in masked.state_dict().items()}
    tensors.update(masks_of(masked))
    save_file(tensors, str(out / "weights.safetensors"))
    written = ["weights.safetensors"]
    if shrunk is not None:
        shrunk = shrunk.eval().cpu()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated, still loadable
            traced = torch.jit.trace(shrunk, example)
        traced.save(str(out / "shrunk.pt"))
        written.append("shrunk.pt")
        try:
            import onnx  # noqa: F401 - only whether it is there

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(shrunk, (example,), str(out / "shrunk.onnx"), dynamo=False,
                                  input_names=["images"], output_names=["logits"],
                                  dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})
            written.append("shrunk.onnx")
        except ImportError:
            pass  # onnx is optional
        except Exception as exc:  # an operator the exporter lacks: keep the other files
            written.append(f"shrunk.onnx not written: {type(exc).__name__}: {exc}"[:200])
    return written
