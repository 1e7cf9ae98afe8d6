"""The loaders of a run, its validation set (``[train] val_fraction``), and scoring.

Without a validation set a run trains on the whole training split, as it always has.
With one, the split is cut by :func:`suite.data.holdout.holdout` (a rule of the run's
seed alone, so it is the same after a resume and on every rank): the run trains on
the rest, and the held-out images are read like the test set (test-time transforms, no
augmentation, no shuffling) and scored at every epoch's end and at the end, as
``val_top1`` and ``val_loss`` (the plain cross-entropy, without label smoothing).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from suite.data import Dataset
from suite.data.holdout import Holdout, holdout
from suite.errors import SpecError, SuiteError
from suite.recipes import TrainRecipe


def eval_batch(recipe: TrainRecipe) -> int:
    """The batch size of evaluation (test and validation)."""
    return max(recipe.batch_size, 256)


def takes_indices(dataset: Dataset) -> bool:
    """Whether ``dataset.loader`` can keep a subset of a split (an ``indices`` keyword)."""
    return "indices" in inspect.signature(dataset.loader).parameters


@dataclass
class Loaders:
    """The train, test and (optional) validation loaders, and the split behind them."""

    train: Any
    test: Any
    val: Any = None
    holdout: Holdout | None = None


def build_loaders(dataset: Dataset, recipe: TrainRecipe, seed: int, device: torch.device,
                  channels_last: bool) -> Loaders:
    """The loaders of a run of ``recipe`` with ``seed``; see the module docstring."""
    kw: dict[str, Any] = {"device": device, "channels_last": channels_last}
    split, train_kw = None, {}
    if recipe.val_fraction:
        if not takes_indices(dataset):
            raise SpecError(f"[train] val_fraction = {recipe.val_fraction}: dataset "
                            f"{type(dataset).__name__}'s loader() takes no indices keyword, so no "
                            "validation set can be held out of its training split; use val_fraction = 0")
        split = holdout(dataset.size("train"), recipe.val_fraction, seed)
        train_kw = {"indices": split.train}
    train = dataset.loader("train", recipe.batch_size, train=True, seed=seed, **kw, **train_kw)
    test = dataset.loader("test", eval_batch(recipe), train=False, **kw)
    val = (dataset.loader("train", eval_batch(recipe), train=False, indices=split.val, **kw)
           if split is not None else None)
    return Loaders(train, test, val, split)


def val_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """An evaluation of the validation set under its own names: ``val_top1``,
    ``val_loss`` (and ``val_top5`` above 10 classes)."""
    out = {"val_top1": metrics["top1"], "val_loss": metrics["test_loss"]}
    if "top5" in metrics:
        out["val_top5"] = metrics["top5"]
    return out


def check_resumed_split(saved: dict[str, Any] | None, split: Holdout | None) -> None:
    """Refuse to resume a checkpoint whose validation split is not this run's (the
    training split changed size since, or the recipe's fraction did)."""
    mine = split.record() if split is not None else None
    if (saved or None) != mine:
        raise SuiteError(f"the checkpoint was trained with validation split {saved}, but this run "
                         f"holds out {mine}: the training data changed since the run started; "
                         "delete the run's checkpoint to start it again")


def _topk_correct(logits: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return (top == y[:, None]).any(dim=1).sum()


@torch.no_grad()
def score_sums(model: torch.nn.Module, loader: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The summed plain cross-entropy, top-1 and top-5 hits and the count of images of
    ``model`` (as it is: in eval mode, masked) on one pass of ``loader``, as float64 on
    the model's device (sums of several processes' shares add up to the whole's);
    ``dtype``: what the inputs are cast to (the parameters' dtype), None: as they come."""
    sums: torch.Tensor | None = None
    for x, y in loader.epoch(0):
        if not len(y):
            continue  # a rank's share of the last batch may be empty
        logits = model(x if dtype is None else x.to(dtype)).float()
        batch = torch.stack([F.cross_entropy(logits, y, reduction="sum").double(),
                             _topk_correct(logits, y, 1).double(), _topk_correct(logits, y, 5).double(),
                             torch.tensor(float(len(y)), dtype=torch.float64, device=logits.device)])
        sums = batch if sums is None else sums + batch
    if sums is None:
        device = next(model.parameters()).device
        sums = torch.zeros(4, dtype=torch.float64, device=device)
    return sums


def metrics_of(sums: torch.Tensor, num_classes: int) -> dict[str, float]:
    """``top1`` (and ``top5`` above 10 classes) in percent and ``test_loss``, the mean
    plain cross-entropy, from the sums of :func:`score_sums`."""
    loss, correct1, correct5, seen = sums.tolist()
    out = {"top1": 100.0 * correct1 / seen, "test_loss": loss / seen}
    if num_classes > 10:
        out["top5"] = 100.0 * correct5 / seen
    return out


def score(model: torch.nn.Module, loader: Any, num_classes: int) -> dict[str, float]:
    """The metrics of ``model`` on ``loader`` in one process (see :func:`metrics_of`)."""
    return metrics_of(score_sums(model, loader), num_classes)
