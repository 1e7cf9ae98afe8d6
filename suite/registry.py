"""One registry idiom for methods, models, datasets and backends.

Each kind has a :class:`Registry`; plugins register with a decorator keyed by name, and
outside packages can plug in through the entry-point group ``suite.<kind>``
(``[project.entry-points."suite.methods"] mymethod = "mypkg.mod:MyMethod"``).
Lookups of unknown names raise :class:`UnknownNameError` listing the known names.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from suite.errors import UnknownNameError

T = TypeVar("T")


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ' (did you mean "x"?)' for the closest choice, or '' if none is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


class Registry(Generic[T]):
    """A name -> plugin mapping of one kind ("method", "model", ...)."""

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._group = entry_point_group or f"suite.{kind}s"
        self._loaded_entry_points = False

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name``; a name may be taken once."""

        def decorate(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return decorate

    def _load_entry_points(self) -> None:
        if self._loaded_entry_points:
            return
        self._loaded_entry_points = True
        for ep in entry_points(group=self._group):
            if ep.name not in self._items:
                self._items[ep.name] = ep.load()

    def get(self, name: str) -> T:
        """The plugin registered as ``name``; unknown names list the known ones."""
        self._load_entry_points()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            known = ", ".join(self.names())
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{did_you_mean(name, self.names())}; "
                f"known {self.kind}s: {known}"
            ) from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load_entry_points()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
