"""The result record of one (cell, seed): :class:`ResultRecord`, a versioned,
self-describing document that backends build, the store keeps as JSON, and reports
and exports read.

Fields: ``format`` (``RESULT_FORMAT``), ``cell`` (canonical cell), ``cell_id``, ``seed``,
``metrics`` (final and best top-1, top-5 when there are more than 10 classes, final
train loss), ``curve`` (one entry per epoch), ``sparsity`` (target, achieved overall
and per layer, off-target flag, parameters and MACs kept), ``flips`` (mask flip ratio
at each mask update, for methods whose mask moves), ``timing`` (wall seconds, images
per second), ``provenance`` (the backend that ran it, versions, git commit, device, the
data files read, start and end time).

With a validation set (``[train] val_fraction`` above 0) also: ``metrics["val_top1"]``
and ``metrics["val_loss"]`` (``val_top5`` above 10 classes) of the final model on the
held-out images, the same keys in every ``curve`` entry (the model at that epoch's end),
and ``validation``, the split itself (:func:`suite.data.holdout.holdout`): ``fraction``,
``images`` (held out), ``train_images`` (trained on), ``split_images`` (the training
split's size), ``seed`` (the run's), ``generator_seed`` (what the permutation's
generator was seeded with) and ``indices_crc32`` (a CRC-32 of the held-out indices).
Records without these keys come from runs without a validation set.

A run of more than one round (a method whose ``rounds`` is above 1, LTH) also has a
``round`` key in every ``curve`` entry and ``rounds``: per round its number, epochs, the
sparsity it trained at, its last epoch's top-1 (top-5), test and train loss and its best
top-1 (:func:`backends.artifacts.round_records`).

Formats (``suite.result/N``): a record of an older format is upgraded when it is read,
one step at a time, by the ``update_to_N`` functions in :data:`UPDATES`; a record of a
newer or an unknown format is refused. A change to the record adds the next
``update_to_N`` and raises :data:`CURRENT` by one.

- 1: the first format.
- 2: ``provenance["backend"]`` names the backend in every record (format 1 records of
  the torch backend named none; DeepSpeed ones did).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from suite.errors import StoreError

PREFIX = "suite.result/"
#: The format number this release writes.
CURRENT = 2
#: The format this release writes, as records name it.
RESULT_FORMAT = f"{PREFIX}{CURRENT}"

Update = Callable[[dict[str, Any]], dict[str, Any]]
#: ``UPDATES[n]`` turns a record of format n - 1 into one of format n.
UPDATES: dict[int, Update] = {}


def update_to(number: int) -> Callable[[Update], Update]:
    """Register the function that upgrades a record of format ``number - 1`` to ``number``."""
    def register(fn: Update) -> Update:
        if number in UPDATES:
            raise ValueError(f"two upgrades to result format {number}")
        UPDATES[number] = fn
        return fn
    return register


@update_to(2)
def update_to_2(record: dict[str, Any]) -> dict[str, Any]:
    """Name the backend: a format 1 record without ``provenance["backend"]`` was written
    by the torch backend (the only other one, DeepSpeed, always named itself)."""
    out = {**record, "format": f"{PREFIX}2"}
    provenance = record.get("provenance")
    if isinstance(provenance, dict) and "backend" not in provenance:
        out["provenance"] = {**provenance, "backend": "torch"}
    return out


def known_formats() -> list[str]:
    """The formats this release reads, oldest first."""
    return [f"{PREFIX}{n}" for n in range(1, CURRENT + 1)]


def format_number(found: Any) -> int | None:
    """N of ``"suite.result/N"``; None for anything else."""
    if not isinstance(found, str) or not found.startswith(PREFIX):
        return None
    digits = found.removeprefix(PREFIX)
    return int(digits) if digits.isdigit() and not digits.startswith("0") else None


def upgrade(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` (a JSON object) upgraded to :data:`RESULT_FORMAT` (a new dict; the
    argument is left as it was). Refuses a newer or an unknown format."""
    if not isinstance(record, Mapping):
        raise StoreError(f"a result record is a JSON object, not {type(record).__name__}")
    found = record.get("format")
    number = format_number(found)
    known = ", ".join(repr(f) for f in known_formats())
    if number is not None and number > CURRENT:
        raise StoreError(f"a result record has format {found!r}, newer than this version of "
                         f"suite reads ({known}): it was written by a newer release. Upgrade "
                         "suite to read it")
    if number is None:
        raise StoreError(f"a result record has format {found!r}, which is not a format of "
                         f"suite result records; this version reads {known}")
    out = dict(record)
    for step in range(number + 1, CURRENT + 1):
        out = UPDATES[step](out)
    return out


#: The JSON type of each field.
_TYPES: dict[str, type] = {
    "cell_id": str, "cell": dict, "seed": int, "metrics": dict, "curve": list,
    "sparsity": dict, "flips": list, "timing": dict, "provenance": dict, "rounds": list,
    "validation": dict}
#: Fields a record may leave out (None in memory, absent from the JSON).
OPTIONAL = ("rounds", "validation")


@dataclass(frozen=True)
class ResultRecord:
    """The result of one (cell, seed), always of the current format (:data:`RESULT_FORMAT`).

    Build one in :func:`backends.artifacts.result_record`; store ``to_json()``; read a
    stored one with :meth:`from_json`, which upgrades older formats. The nested values
    are plain JSON (dicts, lists, numbers, strings): treat them as read-only.
    """

    #: Every record in memory is of the current format; older ones are upgraded on read.
    format: ClassVar[str] = RESULT_FORMAT

    cell_id: str
    cell: dict[str, Any]
    seed: int
    metrics: dict[str, Any]
    curve: list[dict[str, Any]]
    sparsity: dict[str, Any]
    flips: list[dict[str, Any]]
    timing: dict[str, Any]
    provenance: dict[str, Any]
    #: Runs of more than one round (LTH): each round's sparsity and metrics.
    rounds: list[dict[str, Any]] | None = None
    validation: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for name, kind in _TYPES.items():
            value = getattr(self, name)
            if name in OPTIONAL and value is None:
                continue
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise StoreError(f"a result record's {name!r} is {type(value).__name__}, not "
                                 f"{kind.__name__} (cell {self.cell_id!r})")

    @property
    def per_layer(self) -> dict[str, float]:
        """The achieved sparsity of each prunable layer (empty when not recorded)."""
        return self.sparsity.get("per_layer") or {}

    def to_json(self) -> dict[str, Any]:
        """The record as the store keeps it: a JSON object, keys in this order (format,
        cell_id, cell, seed, metrics, curve, sparsity, flips, timing, provenance, then
        rounds and validation where there are any). Nested values are shared with the record."""
        out: dict[str, Any] = {"format": self.format}
        out.update((f.name, getattr(self, f.name)) for f in fields(self)
                   if f.name not in OPTIONAL or getattr(self, f.name) is not None)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResultRecord:
        """The record stored as ``data`` (a JSON object), upgraded from an older format
        when it is one. Raises StoreError for a newer or unknown format, and for a record
        with missing, unknown or mistyped fields."""
        data = upgrade(data)
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data and n not in OPTIONAL]
        unknown = [k for k in data if k not in names and k != "format"]
        if missing or unknown:
            what = "; ".join(part for part in (
                "missing " + ", ".join(missing) if missing else "",
                "unknown " + ", ".join(map(str, unknown)) if unknown else "") if part)
            raise StoreError(f"a result record of cell {data.get('cell_id')!r} does not match "
                             f"format {RESULT_FORMAT!r}: {what}")
        return cls(**{n: data[n] for n in names if n in data})
