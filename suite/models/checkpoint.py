"""Start from a trained model: ``[model.<name>] checkpoint = "path"``.

Every model's options derive from :class:`ModelOptions`, whose ``checkpoint`` names a
state dict loaded into the freshly built model before the method's setup (pruning at
initialization, SNIP's saliency), as ShrinkBench starts from pretrained weights. The
path is not part of the cell id (like a dataset root); the file's SHA-256 is: the spec
parser fills ``checkpoint_sha256`` (:func:`resolve_model_options`), so the same bytes
at another path are the same cell and other bytes are another cell.

Files read (``torch.load(weights_only=True)``, or safetensors):

- the suite's own ``model.pt`` of a finished run and ``checkpoint.pt`` of any run
  (its ``"model"`` entry), and what ``suite export --model`` writes: the plain state
  dict and the ``torch.nn.utils.prune`` one (``X_orig`` times ``X_mask`` becomes ``X``);
- torchvision state dicts, for models that mirror torchvision's (``resnet50``);
- timm's: timm's ``resnet50`` has torchvision's keys (its checkpoints load as they are),
  and timm's training checkpoints keep the weights under ``"state_dict"``;
- any of these under ``"state_dict"``, ``"model"`` or ``"module"`` (DeepSpeed), with
  the ``module.`` prefix of DataParallel / DistributedDataParallel or ``_orig_mod.`` of
  ``torch.compile``; sparse tensors are made dense.

Keys must match the model's and shapes too. With ``checkpoint_strict = false`` the
tensors that match are loaded and the others (a classifier of another class count)
keep their initialization; each result's provenance lists what was skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from suite.errors import SpecError

#: Where a run that started from a checkpoint records what it loaded (read on resume).
START_RECORD = "start.json"
#: Entries of a checkpoint that hold the state dict, tried in this order.
WRAPPERS = ("state_dict", "model", "module")
#: Key prefixes dropped when every key has them (DataParallel, DeepSpeed; torch.compile).
PREFIXES = ("module.", "_orig_mod.")
SUPPORTED = ("a state dict (torch.save or safetensors): the suite's model.pt or checkpoint.pt, "
             "`suite export --model` files (plain or torch.nn.utils.prune), torchvision or timm "
             "state dicts, optionally under 'state_dict', 'model' or 'module' and with a "
             "'module.' prefix")
#: How many key names an error message or a provenance list shows.
SHOWN = 5
#: Digests of the files read so far, by (real path, size, mtime, inode): a spec read
#: again (by each command, each collection member) hashes its checkpoints once.
_DIGESTS: dict[tuple[str, int, int, int], str] = {}


@dataclass(frozen=True)
class ModelOptions:
    """Options every model has: ``checkpoint``, the state dict to start from (a path
    relative to the working directory, not part of the id); ``checkpoint_strict``,
    whether every key and shape must match; ``checkpoint_sha256``, the file's digest,
    derived when the spec is read (part of the id)."""

    checkpoint: str = field(default="", metadata={"identity": False})
    checkpoint_strict: bool = True
    checkpoint_sha256: str = field(default="", metadata={"derived": "the SHA-256 of the checkpoint file"})

    def resolve(self, where: str) -> ModelOptions:
        """These options with ``checkpoint_sha256`` of the file (see
        :func:`resolve_model_options`)."""
        return resolve_model_options(self, where)


@dataclass(frozen=True)
class StateFile:
    """A checkpoint file read: its digest, the state dict in it and how it was laid out."""

    sha256: str
    state: dict[str, torch.Tensor]
    layout: str


def resolve_model_options(options: Any, where: str) -> Any:
    """``options`` with ``checkpoint_sha256`` set from the file at ``checkpoint`` (cleared
    without one); ``where`` is the table, e.g. ``model.resnet20``.

    Called when the spec is read, and by code that replaces ``checkpoint`` in parsed
    options (``dataclasses.replace``) before their cell ids are computed. Raises
    SpecError naming ``<where>.checkpoint`` when the file is missing, unreadable or not
    a state dict. Options of other classes are returned as they are.
    """
    if not isinstance(options, ModelOptions):
        return options
    if not options.checkpoint:
        if not options.checkpoint_strict:
            raise SpecError(f"{where}.checkpoint_strict = false has no effect without "
                            f"{where}.checkpoint; name the file to start from or leave it out")
        return dataclasses.replace(options, checkpoint_sha256="")
    sha256 = _inspect(options.checkpoint, f"{where}.checkpoint")
    return dataclasses.replace(options, checkpoint_sha256=sha256)


def _inspect(path: str, where: str) -> str:
    """The digest of the state-dict file at ``path`` (read once per file version)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise SpecError(f"{where} = {path!r}: cannot read it ({exc.strerror}; relative paths "
                        f"are relative to the working directory {os.getcwd()}); expected "
                        f"{SUPPORTED}") from None
    version = (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if version not in _DIGESTS:
        _DIGESTS[version] = read_state_file(path, where).sha256
    return _DIGESTS[version]


def read_state_file(path: str | Path, where: str) -> StateFile:
    """Read, hash and unpack the checkpoint at ``path``; SpecError naming ``where``
    when it is not one of the supported layouts."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SpecError(f"{where} = {str(path)!r}: cannot read it ({exc.strerror}); expected "
                        f"{SUPPORTED}") from None
    obj, notes = _decode(data, str(path), where)
    state, more = unpack(obj, str(path), where)
    return StateFile(hashlib.sha256(data).hexdigest(), state, ", ".join(notes + more) or "state dict")


def _decode(data: bytes, path: str, where: str) -> tuple[Any, list[str]]:
    if _is_safetensors(data):
        try:
            from safetensors.torch import load as load_safetensors  # optional: the speed extra
        except ImportError:
            raise SpecError(f"{where} = {path!r} is a safetensors file; reading it needs "
                            "safetensors (pip install safetensors)") from None
        return load_safetensors(data), ["safetensors"]
    try:
        # timm's training checkpoints keep their argparse arguments beside the weights
        # (torch before 2.5 has no safe_globals context: it then reads plain state dicts).
        allowed = getattr(torch.serialization, "safe_globals", None)
        with allowed([argparse.Namespace]) if allowed else contextlib.nullcontext():
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True), []
    except Exception as exc:  # noqa: BLE001 - any failure means: not a file we can read
        lines = [s.strip() for s in str(exc).splitlines() if s.strip()] or [type(exc).__name__]
        reason = next((s for s in lines if "Unsupported global" in s), lines[0])[:200]
        raise SpecError(f"{where} = {path!r} cannot be read with torch.load(weights_only=True) "
                        f"({reason}); expected {SUPPORTED}") from None


def _is_safetensors(data: bytes) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then a JSON object."""
    if len(data) < 10:
        return False
    size = int.from_bytes(data[:8], "little")
    return 2 <= size <= len(data) - 8 and data[8:9] == b"{"


def _is_state(obj: Any) -> bool:
    return (isinstance(obj, Mapping) and bool(obj)
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()))


def unpack(obj: Any, path: str, where: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The state dict in a loaded checkpoint ``obj``, in the model's key names, and the
    notes that say how it was laid out (wrapper entry, prefix, folded prune masks)."""
    notes: list[str] = []
    for _ in range(2):  # e.g. {"model": {"module": state}}
        if _is_state(obj) or not isinstance(obj, Mapping):
            break
        key = next((k for k in WRAPPERS if isinstance(obj.get(k), Mapping)), None)
        if key is None:
            break
        obj = obj[key]
        notes.append(f"under {key!r}")
    if not _is_state(obj):
        found = (f"a {type(obj).__name__}" if not isinstance(obj, Mapping) else "an empty mapping"
                 if not obj else f"a mapping with keys {_names([str(k) for k in obj])}")
        raise SpecError(f"{where} = {path!r} holds {found}, not a state dict (parameter names "
                        f"to tensors); expected {SUPPORTED}")
    state = {k: v.to_dense() if v.layout != torch.strided else v for k, v in obj.items()}
    if any(v.layout != torch.strided for v in obj.values()):
        notes.append("sparse tensors made dense")
    for prefix in PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
            notes.append(f"{prefix!r} prefix removed")
    folded = _fold_prune_masks(state)
    if folded is not state:
        notes.append("torch.nn.utils.prune masks folded")
    return folded, notes


def _fold_prune_masks(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torch.nn.utils.prune's ``X_orig`` and ``X_mask`` as one ``X = X_orig * X_mask``
    (in the place of ``X_orig``); ``state`` itself when it has no such pair."""
    pairs = {k[: -len("_orig")] for k in state if k.endswith("_orig") and k[:-5] + "_mask" in state}
    if not pairs:
        return state
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith("_mask") and key[: -len("_mask")] in pairs:
            continue
        if key.endswith("_orig") and key[: -len("_orig")] in pairs:
            base = key[: -len("_orig")]
            out[base] = value * state[f"{base}_mask"].to(value.dtype)
        else:
            out[key] = value
    return out


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOWN])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > SHOWN else "")


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], *, strict: bool,
               where: str, path: str) -> dict[str, Any]:
    """Copy ``state`` into ``model``; returns what was loaded and skipped.

    Strict: every key of the model (but BN's ``num_batches_tracked``, which torchvision's
    older files lack) must be in ``state`` with its shape, and nothing else; otherwise a
    SpecError lists the first missing, unexpected and reshaped keys, and ``model`` is
    untouched. Not strict: only the tensors that match are loaded (at least one).
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    reshaped = [k for k in state if k in own and state[k].shape != own[k].shape]
    usable = {k: v for k, v in state.items() if k in own and k not in reshaped}
    if (strict and (missing or unexpected or reshaped)) or not usable:
        parts = [f"{len(missing)} keys missing ({_names(missing)})" if missing else "",
                 f"{len(unexpected)} unexpected ({_names(unexpected)})" if unexpected else "",
                 f"{len(reshaped)} of another shape ("
                 + ", ".join(f"{k}: file {tuple(state[k].shape)}, model {tuple(own[k].shape)}"
                             for k in reshaped[:SHOWN]) + ")" if reshaped else ""]
        hint = (f"; set {where}_strict = false to load only the tensors that match" if usable
                else "; no tensor of the file fits the model")
        raise SpecError(f"{where} = {path!r} does not fit the model: "
                        + ", ".join(p for p in parts if p) + hint)
    model.load_state_dict(usable, strict=False)
    return {"loaded": len(usable), "missing": missing[:SHOWN], "unexpected": unexpected[:SHOWN],
            "reshaped": reshaped[:SHOWN], "skipped": len(missing) + len(unexpected) + len(reshaped)}


def load_checkpoint(model: nn.Module, options: ModelOptions, where: str) -> dict[str, Any]:
    """Load ``options.checkpoint`` into ``model`` after checking that the file is still
    the one whose digest the cell id holds; returns the provenance record."""
    path = options.checkpoint
    if not options.checkpoint_sha256:
        raise SpecError(f"{where} = {path!r} has no digest: options whose checkpoint is set in "
                        "code need suite.models.checkpoint.resolve_model_options before their "
                        "cells are made")
    file = read_state_file(path, where)
    if file.sha256 != options.checkpoint_sha256:
        raise SpecError(f"{where} = {path!r} changed after the spec was read (sha256 "
                        f"{file.sha256[:12]}, the cell's id names {options.checkpoint_sha256[:12]}); "
                        "restore that file, or read the spec again to make a cell of the new one")
    loaded = load_state(model, file.state, strict=options.checkpoint_strict, where=where, path=path)
    return {"path": path, "sha256": file.sha256, "layout": file.layout,
            "strict": options.checkpoint_strict, **loaded}


def start_model(model: nn.Module, name: str, options: Any, run_dir: Path, *,
                resume: bool) -> dict[str, Any] | None:
    """Load the checkpoint of ``[model.<name>]`` into the freshly built ``model`` and
    return the provenance record (None without a checkpoint).

    A run that resumes (``resume``) keeps the weights of its own checkpoint: nothing is
    loaded and the record written when it started (``START_RECORD``) is returned.
    """
    if not getattr(options, "checkpoint", ""):
        return None
    record_path = Path(run_dir) / START_RECORD
    if resume:
        if record_path.is_file():
            return json.loads(record_path.read_text(encoding="utf-8"))
        return {"path": options.checkpoint, "sha256": options.checkpoint_sha256, "layout": None}
    record = load_checkpoint(model, options, f"model.{name}.checkpoint")
    tmp = record_path.with_name(f"{record_path.name}.{os.getpid()}.tmp")  # ranks write alike
    tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(tmp, record_path)
    return record
