"""Readers of the on-disk formats small datasets come in, decoding to uint8 tensors.

- image folders: ``<root>/<split>/<class>/<image>`` (torchvision's ImageFolder layout),
  as a directory tree or inside a tar archive (``.tar``, ``.tar.gz``, ``.tgz``);
- the CIFAR python pickles (``cifar-10-batches-py``, ``cifar-100-python``);
- IDX files (MNIST, Fashion-MNIST), optionally gzipped.

Problems raise :class:`DataError` naming the file.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from suite.data.split import TensorSplit
from suite.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")

#: One image of an image folder: (split, class name, file name, encoded bytes or a path).
Item = tuple[str, str, str, "bytes | Path"]


def is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


def is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


# ----- image folders -----------------------------------------------------------------
def folder_items(root: Path, splits: Sequence[str]) -> list[Item]:
    """The images of ``root/<split>/<class>/*`` for each split, sorted, not yet read."""
    items: list[Item] = []
    for split in splits:
        base = root / split
        for class_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            for f in sorted(class_dir.iterdir()):
                if f.is_file() and is_image(f.name):
                    items.append((split, class_dir.name, f.name, f))
    return items


def archive_members(path: Path) -> dict[str, bytes]:
    """All regular files of a tar archive (read in one streaming pass) by member name."""
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r|*") as tf:
            for m in tf:
                if m.isfile():
                    fh = tf.extractfile(m)
                    if fh is not None:
                        out[m.name] = fh.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot read archive {path}: {exc}") from exc
    return out


def archive_items(members: dict[str, bytes], splits: Sequence[str]) -> list[Item]:
    """The images laid out as ``[prefix/]<split>/<class>/<file>`` among archive members."""
    items: list[Item] = []
    for name, data in members.items():
        parts = PurePosixPath(name).parts
        if len(parts) >= 3 and parts[-3] in splits and is_image(parts[-1]):
            items.append((parts[-3], parts[-2], parts[-1], data))
    items.sort(key=lambda it: it[:3])
    return items


def decode_image(data: bytes, channels: int) -> np.ndarray:
    """Encoded image bytes as a uint8 array (C, H, W) with ``channels`` (1 or 3)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        arr = np.asarray(im.convert("L" if channels == 1 else "RGB"))
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def decode_items(items: Iterable[Item], splits: Sequence[str], shape: tuple[int, int, int],
                 where: str) -> tuple[tuple[str, ...], dict[str, TensorSplit]]:
    """Decode image-folder items into one uint8 split per name; classes are the sorted
    class folders of the first split (the labels' order, as torchvision's ImageFolder)."""
    items = list(items)
    first = splits[0]
    classes = tuple(sorted({c for s, c, _, _ in items if s == first}))
    index = {c: i for i, c in enumerate(classes)}
    out: dict[str, TensorSplit] = {}
    for split in splits:
        chosen = [it for it in items if it[0] == split]
        if not chosen:
            raise DataError(f"{where}: no images found in {split}/<class>/")
        images = np.empty((len(chosen), *shape), dtype=np.uint8)
        labels = np.empty(len(chosen), dtype=np.int64)
        for i, (_, cls, fname, src) in enumerate(chosen):
            if cls not in index:
                raise DataError(f"{where}: class folder {split}/{cls} has no counterpart in {first}/")
            try:
                img = decode_image(src.read_bytes() if isinstance(src, Path) else src, shape[0])
            except (OSError, ValueError) as exc:
                raise DataError(f"{where}: cannot decode {split}/{cls}/{fname}: {exc}") from exc
            if img.shape != shape:
                raise DataError(f"{where}: image {split}/{cls}/{fname} has shape {img.shape}, "
                                f"expected {shape} (channels, height, width)")
            images[i] = img
            labels[i] = index[cls]
        out[split] = TensorSplit(torch.from_numpy(images), torch.from_numpy(labels))
    return classes, out


# ----- CIFAR pickles -------------------------------------------------------------------
def _unpickle(data: bytes, where: str) -> dict[str, object]:
    try:
        raw = pickle.loads(data, encoding="bytes")
    except Exception as exc:  # noqa: BLE001  (any unpickling failure means a bad file)
        raise DataError(f"cannot read the CIFAR pickle {where}: {exc}") from exc
    if not isinstance(raw, dict):
        raise DataError(f"{where} is not a CIFAR pickle (not a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def cifar_batches(blobs: Sequence[tuple[str, bytes]], label_key: str) -> TensorSplit:
    """Concatenate CIFAR pickle batches (``data``: N x 3072 uint8, R, G, B planes)."""
    images, labels = [], []
    for where, blob in blobs:
        d = _unpickle(blob, where)
        if "data" not in d or label_key not in d:
            raise DataError(f"{where} lacks the keys 'data' and '{label_key}' of a CIFAR pickle")
        arr = np.asarray(d["data"], dtype=np.uint8)
        images.append(torch.from_numpy(arr.reshape(-1, 3, 32, 32).copy()))
        labels.append(torch.as_tensor(np.asarray(d[label_key]), dtype=torch.int64))
    return TensorSplit(torch.cat(images), torch.cat(labels))


def cifar_class_names(blob: bytes, key: str, where: str) -> tuple[str, ...]:
    names = _unpickle(blob, where).get(key)
    if names is None:
        raise DataError(f"{where} lacks the key '{key}'")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


# ----- IDX (MNIST family) --------------------------------------------------------------
def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped when its name ends in .gz) as a uint8 numpy array."""
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"cannot gunzip {path}: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataError(f"{path}: header says {dims} but holds {body.size} bytes")
    return body.reshape(dims)
