"""Builders of tiny fake copies of the on-disk dataset layouts (used by the data tests)."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


def fake_images(n: int, seed: int, shape=(32, 32, 3)) -> np.ndarray:
    """n random uint8 images, H x W x C."""
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def write_cifar10_pickles(folder: Path, per_batch: int = 4) -> dict[str, np.ndarray]:
    """CIFAR-10's python pickles (bytes keys, as the original) with ``per_batch`` images
    per batch; returns the images (N, 3, 32, 32) and labels of both splits."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, list] = {"train_images": [], "train_labels": [], "test_images": [],
                            "test_labels": []}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        imgs = fake_images(per_batch, k).transpose(0, 3, 1, 2)  # N, C, H, W
        labels = [(k + i) % 10 for i in range(per_batch)]
        blob = {b"batch_label": name.encode(), b"labels": labels,
                b"data": imgs.reshape(per_batch, -1), b"filenames": [b"x.png"] * per_batch}
        (folder / name).write_bytes(pickle.dumps(blob, protocol=2))
        split = "test" if name == "test_batch" else "train"
        out[f"{split}_images"].append(imgs)
        out[f"{split}_labels"] += labels
    meta = {b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return {k: np.concatenate(v) if k.endswith("images") else np.array(v) for k, v in out.items()}


def write_cifar100_pickles(folder: Path, n: int = 6) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(("train", "test")):
        imgs = fake_images(n, 10 + k).transpose(0, 3, 1, 2)
        blob = {b"data": imgs.reshape(n, -1), b"fine_labels": [(7 * i) % 100 for i in range(n)],
                b"coarse_labels": [0] * n}
        (folder / name).write_bytes(pickle.dumps(blob, protocol=2))
    meta = {b"fine_label_names": [f"c{i:02d}".encode() for i in range(100)],
            b"coarse_label_names": [b"x"] * 20}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))


def write_image_folder(root: Path, classes=CIFAR10_CLASSES, per_class=(2, 1), fmt: str = "PNG",
                       size: tuple[int, int] = (32, 32)) -> dict[str, np.ndarray]:
    """``root/{train,test}/<class>/NNNN.<ext>``; returns the written pixels per split
    (sorted by class then file, as the reader orders them)."""
    ext = {"PNG": "png", "JPEG": "jpg"}[fmt]
    written: dict[str, list] = {"train": [], "test": []}
    for s, (split, count) in enumerate(zip(("train", "test"), per_class, strict=True)):
        for c, cls in enumerate(classes):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            imgs = fake_images(count, 100 * s + c, (size[1], size[0], 3))
            for i, img in enumerate(imgs):
                Image.fromarray(img).save(folder / f"{i:04d}.{ext}", format=fmt)
                written[split].append(img.transpose(2, 0, 1))
    return {k: np.stack(v) for k, v in written.items()}


def tar_folder(src: Path, archive: Path, prefix: str = "") -> Path:
    """Pack the contents of ``src`` into ``archive`` (gzip when it ends in .gz)."""
    mode = "w:gz" if archive.name.endswith(("gz", "tgz")) else "w"
    with tarfile.open(archive, mode) as tf:
        for path in sorted(src.rglob("*")):
            tf.add(path, arcname=str(Path(prefix) / path.relative_to(src)), recursive=False)
    return archive


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(
        struct.pack(">I", d) for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


def write_fashion_idx(folder: Path, n_train: int = 5, n_test: int = 3, gz: bool = True) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    out = {}
    for prefix, n, seed in (("train", n_train, 1), ("t10k", n_test, 2)):
        imgs = fake_images(n, seed, (28, 28))
        labels = np.arange(n, dtype=np.uint8) % 10
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", imgs)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        out[prefix] = (imgs, labels)
    return out


def jpeg_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG")
    return buf.getvalue()
