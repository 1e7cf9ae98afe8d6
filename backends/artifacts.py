"""What a run leaves: its checkpoint (written atomically) and its result record
(:class:`suite.result.ResultRecord`, built here and nowhere else): the canonical cell
and seed, final and best metrics (validation ones too with a validation set), the
curve, the sparsity measured from the final weights, mask flips, timing, provenance
(a backend adds its own fields through ``Trainer.provenance_extra``) and the
validation split. For a run of more than one round (:mod:`backends.rounds`), its curve
entries carry their ``round`` and ``rounds`` sums each up (:func:`round_records`); best
metrics are then the last round's, the model the record describes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from methods.measure import sparsity_summary
from suite.provenance import provenance
from suite.result import ResultRecord

if TYPE_CHECKING:
    from backends.training import Trainer

CHECKPOINT = "checkpoint.pt"


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file, then rename: a crash never leaves half a file.
    The temporary name is this process's own, so two runners that briefly both hold a
    run (one cut off from the store, not yet stopped) never write into one file."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def checkpoint_precision(path: Path) -> str | None:
    """The precision the checkpoint at ``path`` was trained in (None: no checkpoint, or
    one from before precisions were recorded); reads the file lazily (mmap)."""
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", mmap=True, weights_only=False).get("precision")


def round_records(curve: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per round of a curve whose entries carry ``round``: its number, epochs, the
    sparsity it trained at, and its last epoch's top-1 (top-5), test and train loss
    with its best top-1."""
    out: list[dict[str, Any]] = []
    for entry in curve:
        if not out or out[-1]["round"] != entry["round"]:
            out.append({"round": entry["round"], "epochs": 0, "best_top1": entry["top1"]})
        row = out[-1]
        row.update({"epochs": row["epochs"] + 1, "sparsity": entry["sparsity"], "top1": entry["top1"],
                    "best_top1": max(row["best_top1"], entry["top1"]), "test_loss": entry["test_loss"],
                    "train_loss": entry["train_loss"]})
        if "top5" in entry:
            row["top5"] = entry["top5"]
    return out


def build_record(trainer: Trainer, final: dict[str, float], started: float) -> ResultRecord:
    """The record of ``trainer``'s run, whose final evaluation gave ``final``."""
    t, curve = trainer, trainer.curve
    last = [c for c in curve if c.get("round") == t.round] if t.rounds > 1 else curve
    metrics = {"top1": final["top1"], "best_top1": max(c["top1"] for c in last),
               "test_loss": final["test_loss"], "train_loss": curve[-1]["train_loss"]}
    if "top5" in final:
        metrics["top5"] = final["top5"]
        metrics["best_top5"] = max(c["top5"] for c in last)
    metrics.update({k: v for k, v in final.items() if k.startswith("val_")})
    images = t.train_loader.num_samples * t.cell.train.epochs * t.rounds
    return ResultRecord(
        cell_id=t.cell.id,
        cell=t.cell.canonical(),
        seed=t.seed,
        metrics=metrics,
        curve=curve,
        sparsity=sparsity_summary(t.model, t.method.bind(t.model), t.cell.sparsity, t.macs),
        flips=t.method.flips,
        timing={"train_seconds": t.train_seconds, "wall_seconds": time.time() - started,
                "images_per_second": images / t.train_seconds if t.train_seconds else None},
        provenance={**provenance(t.device), **t.numerics.provenance(),
                    "data": t.data_provenance, "started": started, "finished": time.time(),
                    **({"model_checkpoint": t.model_start} if t.model_start else {}),
                    **t.provenance_extra()},
        rounds=round_records(curve) if t.rounds > 1 else None,
        validation=t.holdout.record() if t.holdout is not None else None,
    )


def result_record(trainer: Trainer, final: dict[str, float], started: float) -> dict[str, Any]:
    """:func:`build_record` as JSON (``ResultRecord.to_json``): what a backend's ``fit``
    returns, across process boundaries too (DeepSpeed's rank 0 writes it to a file)."""
    return build_record(trainer, final, started).to_json()
