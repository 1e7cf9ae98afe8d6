"""``suite export --model RUN``: a finished run's weights for use outside the suite.

Two files: the plain state dict (``model.pt`` of the run: the sparse weights, pruned
entries zero) and one in the format of ``torch.nn.utils.prune``, in which every pruned
weight ``<module>.weight`` becomes ``<module>.weight_orig`` and ``<module>.weight_mask``
(a float tensor of 0 and 1). Load the second into a freshly built model after
``prune.identity(module, "weight")`` on each module that has a mask::

    state = torch.load("model.prune.pt")
    for name, module in model.named_modules():
        if f"{name}.weight_mask" in state:
            prune.identity(module, "weight")
    model.load_state_dict(state)

The masks are the method's own (from the run's last checkpoint), so a weight that is
zero but was kept stays kept; without a checkpoint they are the nonzero pattern of the
conv and linear weights (tensors of 2 to 5 dimensions named ``*.weight``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from suite.errors import SuiteError

_RUN = re.compile(r"^(?P<cell>[0-9a-f]{12})(?:/seed-|:|@)(?P<seed>\d+)$")


def run_directory(root: Path, run: str) -> Path:
    """The artifacts folder of ``run``: ``CELL_ID/seed-N``, ``CELL_ID:N`` or a folder path."""
    match = _RUN.match(run.strip().rstrip("/"))
    path = root / "runs" / match["cell"] / f"seed-{match['seed']}" if match else Path(run)
    if not match and not (path / "model.pt").is_file():
        raise SuiteError(f"--model {run!r}: name a run as CELL_ID/seed-N or CELL_ID:N (ids as "
                         "`suite plan SPEC` lists them), or give its folder under results/runs")
    if not (path / "model.pt").is_file():
        raise SuiteError(f"--model {run}: no model.pt in {path}; the run has not finished, or its "
                         "artifacts are under another --results directory")
    return path


def run_masks(path: Path, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The masks of the run in folder ``path``: the method's, else the nonzero pattern."""
    checkpoint = path / "checkpoint.pt"
    if checkpoint.is_file():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        masks = (saved.get("method") or {}).get("masks")
        if masks is not None:
            return {k: v.bool() for k, v in masks.items() if k in state}
    return {k: v != 0 for k, v in state.items()
            if k.endswith(".weight") and 2 <= v.dim() <= 5 and v.is_floating_point()}


def prune_format(state: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> dict[str, Any]:
    """``state`` with each masked ``X.weight`` as ``X.weight_orig`` and ``X.weight_mask``,
    in the state dict's order (what ``torch.nn.utils.prune`` modules hold)."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key in masks:
            base = key[: -len("weight")]
            mask = masks[key].to(value.device).expand_as(value)
            out[f"{base}weight_orig"] = value * mask
            out[f"{base}weight_mask"] = mask.to(value.dtype).clone()
        else:
            out[key] = value
    return out


def export_model(root: Path, run: str, out: str | None) -> list[Path]:
    """Write the plain and the ``torch.nn.utils.prune`` state dicts of ``run``; returns
    their paths (``out`` and ``out`` with ``.prune`` before its suffix; by default
    ``CELL_ID-seed-N.pt`` in the working directory)."""
    path = run_directory(root, run)
    state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
    plain = Path(out) if out else Path(f"{path.parent.name}-{path.name}.pt")
    pruned = plain.with_name(f"{plain.stem}.prune{plain.suffix or '.pt'}")
    plain.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, plain)
    torch.save(prune_format(state, run_masks(path, state)), pruned)
    return [plain, pruned]
