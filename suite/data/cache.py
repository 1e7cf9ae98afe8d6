"""Decode once: a small dataset's uint8 tensors, stored on disk and keyed by its sources.

A dataset that reads JPEG folders, pickles or IDX files decodes them the first time
and saves the result as one torch file per source root under the cache directory
(``cache_dir`` option, else ``$SUITE_CACHE``, else ``~/.cache/pruning-suite``)::

    <cache_dir>/<dataset>/<root hash>-<fingerprint>.pt

The fingerprint hashes the dataset name, a format version and every source file's
path, size and modification time, so a changed, added or removed source file makes a
new entry (and the stale entry of the same root is removed). Files are written to a
temporary name and renamed, so a crash or a concurrent writer never leaves half an
entry; an unreadable entry is rebuilt. Entries are memory-mapped when read, so runs on
one machine share the pages.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from suite.data.split import TensorSplit

#: Bump when the decoded content of any dataset changes meaning (invalidates entries).
CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """``$SUITE_CACHE`` when set, else ``~/.cache/pruning-suite``."""
    env = os.environ.get("SUITE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pruning-suite"


def fingerprint(name: str, files: Iterable[Path]) -> str:
    """Hex digest of ``name``, the cache format and each file's path, size and mtime."""
    entries = []
    for path in sorted(os.path.abspath(p) for p in files):
        st = os.stat(path)
        entries.append([path, st.st_size, st.st_mtime_ns])
    blob = json.dumps([name, CACHE_FORMAT, entries], separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Decoded:
    """A whole dataset decoded: class names and both splits."""

    classes: tuple[str, ...]
    train: TensorSplit
    test: TensorSplit

    def split(self, name: str) -> TensorSplit:
        return self.train if name == "train" else self.test


def _to_record(data: Decoded) -> dict:
    return {"format": CACHE_FORMAT, "classes": list(data.classes),
            "train_images": data.train.images.contiguous(), "train_labels": data.train.labels,
            "test_images": data.test.images.contiguous(), "test_labels": data.test.labels}


def _from_record(rec: dict) -> Decoded:
    if rec.get("format") != CACHE_FORMAT:
        raise ValueError(f"cache format {rec.get('format')!r}, expected {CACHE_FORMAT}")
    splits = []
    for s in ("train", "test"):
        images, labels = rec[f"{s}_images"], rec[f"{s}_labels"]
        if images.dtype != torch.uint8 or labels.dtype != torch.int64 or images.dim() != 4 \
                or len(images) != len(labels):
            raise ValueError(f"bad {s} tensors in cache entry")
        splits.append(TensorSplit(images, labels))
    return Decoded(tuple(rec["classes"]), *splits)


def atomic_torch_save(obj: object, path: Path) -> None:
    """Save to a unique temporary file in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class TensorCache:
    """The decoded-tensor cache of one dataset name under ``cache_dir``."""

    def __init__(self, dataset: str, cache_dir: str | Path | None = None) -> None:
        self.dataset = dataset
        self.dir = (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / dataset

    def entry_path(self, root: Path, key: str) -> Path:
        root_hash = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:12]
        return self.dir / f"{root_hash}-{key[:24]}.pt"

    def get_or_build(self, root: Path, files: Iterable[Path],
                     build: Callable[[], Decoded]) -> Decoded:
        """The cached decoding of ``files`` (sources found at ``root``), building it on a miss."""
        key = fingerprint(self.dataset, files)
        path = self.entry_path(root, key)
        if path.exists():
            try:
                return _from_record(torch.load(path, weights_only=True, mmap=True))
            except Exception:  # unreadable or foreign entry: decode again and replace it
                pass
        data = build()
        atomic_torch_save(_to_record(data), path)
        prefix = path.name.split("-")[0] + "-"
        for stale in self.dir.glob(prefix + "*.pt"):
            if stale != path:
                stale.unlink(missing_ok=True)
        return data
