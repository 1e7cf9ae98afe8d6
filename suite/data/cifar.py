"""CIFAR-10 and CIFAR-100 (32x32 colour images; 50,000 train and 10,000 test).

Accepted layouts under a root (first match wins):

1. torchvision's pickles: ``<root>/cifar-10-batches-py/`` (CIFAR-100:
   ``cifar-100-python/``), or those pickle files directly in ``<root>``;
2. an image folder: ``<root>/train/<class>/*.jpg`` and ``<root>/test/<class>/*.jpg``
   (PNG works too); labels follow the sorted class folder names, which for CIFAR-10's
   names is the original label order;
3. a tar archive (``.tar``, ``.tar.gz``, ``.tgz``) of layout 1 or 2, given as the root
   itself or found in the root folder, read in place without extracting it (e.g.
   ``root = "../shared/data/cifar10-jpeg.tar.gz"`` or torchvision's
   ``cifar-10-python.tar.gz``).

With no ``root`` option, ``$SUITE_DATA/cifar10`` or ``./data/cifar10`` is searched, and
torchvision's default ``<base>/cifar-10-batches-py`` next to it. The decoded tensors go
to the tensor cache; augmentation is CIFAR's standard 4-pixel pad, random 32x32 crop
and horizontal flip (``crop_flip``), batched on the training device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from suite.data.base import DATASETS
from suite.data.cache import Decoded
from suite.data.files import AugmentOptions, FileDataset, Searched, Source, data_base
from suite.data.info import DatasetInfo, DataShape
from suite.data.readers import (
    archive_items,
    archive_members,
    cifar_batches,
    cifar_class_names,
    decode_items,
    folder_items,
    is_archive,
)
from suite.errors import DataError

SPLITS = ("train", "test")
FOLDER_LAYOUT = "image folder train/<class>/*.jpg + test/<class>/*.jpg"
ARCHIVE_LAYOUT = "tar archive (.tar, .tar.gz, .tgz) of the pickles or of an image folder"


@dataclass(frozen=True)
class CifarVariant:
    """What differs between CIFAR-10 and CIFAR-100."""

    title: str
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pickle_dir: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    meta_key: str
    label_key: str
    archive: str
    torchvision_class: str

    @property
    def pickle_files(self) -> tuple[str, ...]:
        return (*self.train_files, *self.test_files, self.meta_file)


class Cifar(FileDataset):
    """Base of the two CIFAR datasets; ``variant`` holds the differences."""

    Options = AugmentOptions
    variant: CifarVariant

    def known_classes(self) -> int:
        return self.variant.num_classes

    def info(self) -> DatasetInfo:
        v = self.variant
        return DatasetInfo(v.num_classes, (3, 32, 32), v.mean, v.std,
                           augment=self.options.augment, crop_padding=4, label=v.title)

    # ----- finding the files ---------------------------------------------------------
    def find_source(self, roots: list[Path], searched: Searched) -> Source | None:
        v = self.variant
        files = "{" + ",".join(v.pickle_files) + "}"
        for root in roots:
            if is_archive(root) or root.is_file():
                searched.add(ARCHIVE_LAYOUT, root)
                if root.is_file() and is_archive(root):
                    return self._archive_source(root)
                continue
            searched.add(f"torchvision pickles {v.pickle_dir}/{files}", root / v.pickle_dir)
            for folder in (root / v.pickle_dir, root):
                if all((folder / f).is_file() for f in v.pickle_files):
                    return self._pickle_source(folder)
            searched.add(f"pickles {files} directly in", root)
            searched.add(FOLDER_LAYOUT, root)
            if all((root / s).is_dir() for s in SPLITS):
                return self._folder_source(root)
            searched.add(ARCHIVE_LAYOUT, root / "*.tar.gz")
            archives = sorted(p for p in root.iterdir() if p.is_file() and is_archive(p)) \
                if root.is_dir() else []
            if archives:
                return self._archive_source(archives[0])
        if not self.options.root:  # torchvision's default root: <base>/cifar-10-batches-py
            folder = data_base() / v.pickle_dir
            searched.add("torchvision pickles", folder)
            if all((folder / f).is_file() for f in v.pickle_files):
                return self._pickle_source(folder)
            searched.add("torchvision archive", data_base() / v.archive)
            if (data_base() / v.archive).is_file():
                return self._archive_source(data_base() / v.archive)
        return None

    def _pickle_source(self, folder: Path) -> Source:
        paths = tuple(folder / f for f in self.variant.pickle_files)
        return Source("pickles", folder, paths,
                      lambda: self._decode_pickles({p.name: p.read_bytes() for p in paths}, folder))

    def _folder_source(self, root: Path) -> Source:
        items = folder_items(root, SPLITS)
        files = tuple(it[3] for it in items)  # type: ignore[misc]

        def decode() -> Decoded:
            return self._decode_folder(items, str(root))

        return Source("image folder", root, files, decode)

    def _archive_source(self, path: Path) -> Source:
        return Source("archive", path, (path,), lambda: self._decode_archive(path))

    # ----- decoding ------------------------------------------------------------------
    def _check(self, classes: tuple[str, ...], where: str) -> None:
        n = self.variant.num_classes
        if len(classes) != n:
            shown = ", ".join(classes[:12]) + (", ..." if len(classes) > 12 else "")
            raise DataError(f"{where}: found {len(classes)} classes ({shown}); "
                            f"{self.variant.title} has {n}")

    def _decode_pickles(self, blobs: dict[str, bytes], where: Path | str) -> Decoded:
        v = self.variant
        train = cifar_batches([(f"{where}/{f}", blobs[f]) for f in v.train_files], v.label_key)
        test = cifar_batches([(f"{where}/{f}", blobs[f]) for f in v.test_files], v.label_key)
        classes = cifar_class_names(blobs[v.meta_file], v.meta_key, f"{where}/{v.meta_file}")
        self._check(classes, str(where))
        for split in (train, test):
            if len(split) and (int(split.labels.min()) < 0 or int(split.labels.max()) >= len(classes)):
                raise DataError(f"{where}: labels outside 0..{len(classes) - 1}")
        return Decoded(classes, train, test)

    def _decode_folder(self, items: list, where: str) -> Decoded:
        classes, splits = decode_items(items, SPLITS, (3, 32, 32), where)
        self._check(classes, where)
        return Decoded(classes, splits["train"], splits["test"])

    def _decode_archive(self, path: Path) -> Decoded:
        v = self.variant
        members = archive_members(path)
        by_base: dict[str, bytes] = {}
        for name, data in members.items():
            parent, _, base = name.rpartition("/")
            if base in v.pickle_files and parent.rpartition("/")[2] in ("", v.pickle_dir):
                by_base.setdefault(base, data)
        if all(f in by_base for f in v.pickle_files):
            return self._decode_pickles(by_base, path)
        items = archive_items(members, SPLITS)
        if not items:
            raise DataError(f"archive {path} holds neither {v.pickle_dir}/ pickles nor an image "
                            f"folder [prefix/]train/<class>/<image> + test/<class>/<image>")
        return self._decode_folder(items, str(path))

    def download(self, root: Path) -> None:
        import torchvision.datasets as tvd

        if is_archive(root):
            raise DataError(f"download = true needs a folder as root, not the archive {root}")
        try:
            getattr(tvd, self.variant.torchvision_class)(str(root), train=True, download=True)
        except Exception as exc:  # noqa: BLE001  (network errors come in many types)
            raise DataError(f"downloading {self.variant.title} into {root} failed: {exc}. Without "
                            f"network access, put the files there (see the layouts accepted) "
                            f"and set download = false") from exc


@DATASETS.register("cifar10")
class Cifar10(Cifar):
    """CIFAR-10: 10 classes, 50,000 train and 10,000 test 32x32 colour images."""

    label = "CIFAR-10"
    shape = DataShape(10, (3, 32, 32), 50_000, 10_000)

    name = "cifar10"
    variant = CifarVariant(
        title="CIFAR-10", num_classes=10,
        mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
        pickle_dir="cifar-10-batches-py",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)), test_files=("test_batch",),
        meta_file="batches.meta", meta_key="label_names", label_key="labels",
        archive="cifar-10-python.tar.gz", torchvision_class="CIFAR10",
    )


@DATASETS.register("cifar100")
class Cifar100(Cifar):
    """CIFAR-100: 100 fine classes, 50,000 train and 10,000 test 32x32 colour images."""

    label = "CIFAR-100"
    shape = DataShape(100, (3, 32, 32), 50_000, 10_000)

    name = "cifar100"
    variant = CifarVariant(
        title="CIFAR-100", num_classes=100,
        mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
        pickle_dir="cifar-100-python", train_files=("train",), test_files=("test",),
        meta_file="meta", meta_key="fine_label_names", label_key="fine_labels",
        archive="cifar-100-python.tar.gz", torchvision_class="CIFAR100",
    )
