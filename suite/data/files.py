"""The base of datasets read from local files and held in memory as uint8 tensors.

A subclass says where its files may be (:meth:`FileDataset.find_source`, returning a
:class:`Source` or raising :class:`DataError` that lists every layout and place it
looked at) and how to decode them; this class adds the decode-once tensor cache
(:mod:`suite.data.cache`), an optional torchvision download, and keeps the decoded
splits for the life of the object.

Default roots: ``$SUITE_DATA/<name>`` when ``SUITE_DATA`` is set, else ``./data/<name>``
(relative to the working directory). A ``root`` option wins over both; it may use ``~``
and ``$VARS``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from suite.data.base import Dataset
from suite.data.cache import Decoded, TensorCache, fingerprint
from suite.data.split import Split, TensorSplit
from suite.errors import DataError


def _path(value: str) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(value)))


def data_base() -> Path:
    """Where datasets live by default: ``$SUITE_DATA``, else ``./data``."""
    env = os.environ.get("SUITE_DATA")
    return _path(env) if env else Path("data")


@dataclass(frozen=True)
class FileOptions:
    """Options shared by file-backed datasets; none of them is part of a cell's id.

    ``root``: a folder (or an archive) holding one of the dataset's layouts; empty means
    ``$SUITE_DATA/<name>`` or ``./data/<name>``. ``download``: fetch the original files
    with torchvision into the root when nothing is found (needs network access).
    ``cache_dir``: where decoded tensors are kept (empty: ``$SUITE_CACHE`` or
    ``~/.cache/pruning-suite``); ``cache = false`` decodes on every run.
    """

    root: str = field(default="", metadata={"identity": False})
    download: bool = field(default=False, metadata={"identity": False})
    cache_dir: str = field(default="", metadata={"identity": False})
    cache: bool = field(default=True, metadata={"identity": False})


@dataclass(frozen=True)
class AugmentOptions(FileOptions):
    """File options plus the training augmentation (``crop_flip`` or ``none``)."""

    augment: Literal["crop_flip", "none"] = "crop_flip"


@dataclass(frozen=True)
class Source:
    """Files found for a dataset: a layout name, its root, the files that key the cache
    and the function that decodes them."""

    layout: str
    root: Path
    files: tuple[Path, ...]
    decode: Callable[[], Decoded]


class Searched:
    """The layouts and places looked at, for the error message when nothing fits."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []

    def add(self, layout: str, where: Path | str) -> None:
        shown = Path(where).absolute() if isinstance(where, Path) else where
        self.lines.append(f"  - {layout}: {shown}")

    def error(self, hint: str = "") -> DataError:
        key = f"[dataset.{self.name}] root"
        return DataError(
            f"dataset {self.name!r}: no data found. Looked for:\n" + "\n".join(self.lines)
            + f"\nSet {key} = \"<folder or archive>\" in the spec, or the SUITE_DATA environment"
            " variable (its <name> subfolder is used)" + (f"; {hint}" if hint else "") + ".")


class FileDataset(Dataset):
    """A dataset decoded from local files into memory, through the tensor cache."""

    Options: ClassVar[type] = FileOptions
    name: ClassVar[str] = ""

    def __init__(self, options: FileOptions | None = None) -> None:
        super().__init__(options)
        self._decoded: Decoded | None = None
        self.source: Source | None = None

    # ----- to override ---------------------------------------------------------------
    def find_source(self, roots: list[Path], searched: Searched) -> Source | None:
        """The first layout found under ``roots`` (recording every place in ``searched``)."""
        raise NotImplementedError

    def download(self, root: Path) -> None:
        """Fetch the original files into ``root`` (torchvision); may raise DataError."""
        raise DataError(f"dataset {self.name!r} cannot be downloaded")

    # ----- shared --------------------------------------------------------------------
    def roots(self) -> list[Path]:
        """The roots searched, in order: the ``root`` option, or the defaults."""
        if self.options.root:
            return [_path(self.options.root)]
        return [data_base() / self.name]

    def locate(self) -> Source:
        """Find the files (downloading them first when asked and allowed), or raise."""
        searched = Searched(self.name)
        source = self.find_source(self.roots(), searched)
        if source is None and self.options.download:
            self.download(self.roots()[0])
            searched = Searched(self.name)
            source = self.find_source(self.roots(), searched)
        if source is None:
            raise searched.error("" if self.options.download else "or set download = true where "
                                 "the network allows")
        return source

    def decoded(self) -> Decoded:
        """Both splits, decoded once per object (and once per source through the cache)."""
        if self._decoded is None:
            self.source = source = self.locate()
            if self.options.cache:
                cache = TensorCache(self.name, self.options.cache_dir)
                self._decoded = cache.get_or_build(source.root, source.files, source.decode)
            else:
                self._decoded = source.decode()
        return self._decoded

    def load(self, split: Split) -> TensorSplit:
        return self.decoded().split(split)

    def check(self) -> None:
        """Find the files (without decoding them); DataError names what was looked for."""
        if self.source is None:
            self.source = self.locate()

    def provenance(self) -> dict[str, Any]:
        """The layout found, its resolved root, and a fingerprint of the files read."""
        source = self.source or self.locate()
        return {"layout": source.layout, "root": str(source.root.resolve()),
                "files": len(source.files), "fingerprint": fingerprint(self.name, source.files)[:16]}
