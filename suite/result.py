"""The result record of one (cell, seed): a versioned, self-describing JSON document.

Fields: ``format`` (``RESULT_FORMAT``), ``cell`` (canonical cell), ``cell_id``, ``seed``,
``metrics`` (final and best top-1, top-5 when there are more than 10 classes, final
train loss), ``curve`` (one entry per epoch), ``sparsity`` (target, achieved overall
and per layer, off-target flag, parameters and MACs kept), ``flips`` (mask flip ratio
at each mask update, for methods whose mask moves), ``timing`` (wall seconds, images
per second), ``provenance`` (versions, git commit, device, the data files read, start and end time).

With a validation set (``[train] val_fraction`` above 0) also: ``metrics["val_top1"]``
and ``metrics["val_loss"]`` (``val_top5`` above 10 classes) of the final model on the
held-out images, the same keys in every ``curve`` entry (the model at that epoch's end),
and ``validation``, the split itself (:func:`suite.data.holdout.holdout`): ``fraction``,
``images`` (held out), ``train_images`` (trained on), ``split_images`` (the training
split's size), ``seed`` (the run's), ``generator_seed`` (what the permutation's
generator was seeded with) and ``indices_crc32`` (a CRC-32 of the held-out indices).
Records without these keys come from runs without a validation set.
"""

from __future__ import annotations

from typing import Any

from suite.errors import StoreError

RESULT_FORMAT = "suite.result/1"


def check_format(record: dict[str, Any]) -> dict[str, Any]:
    """Return ``record`` if this version of suite can read it; refuse otherwise."""
    found = record.get("format")
    if found != RESULT_FORMAT:
        raise StoreError(f"a stored result has format {found!r}; this version of suite reads "
                         f"{RESULT_FORMAT!r}. Use the suite release that wrote it")
    return record
