"""One registry idiom for methods, models, datasets and backends.

Each kind has a :class:`Registry`; plugins register with a decorator keyed by name, and
outside packages can plug in through the entry-point group ``suite.<kind>``
(``[project.entry-points."suite.methods"] mymethod = "mypkg.mod:MyMethod"``).
Lookups of unknown names raise :class:`UnknownNameError` listing the known names.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from suite.errors import UnknownNameError

T = TypeVar("T")


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ' (did you mean "x"?)' for the closest choice, or '' if none is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


class PluginError(UnknownNameError):
    """An outside plugin's entry point cannot be loaded, or loads something of the wrong kind."""


class Registry(Generic[T]):
    """A name -> plugin mapping of one kind ("method", "model", ...).

    Entry points of outside packages are loaded lazily and one at a time: looking up a
    built-in name loads none of them, looking up an outside name loads only its own, and
    listing every name loads each in isolation. An entry point that fails to import, or
    that ``check`` refuses, is left out with one line on stderr naming it; looking it up
    by name raises :class:`PluginError` with the same line.
    """

    def __init__(self, kind: str, entry_point_group: str | None = None,
                 check: Callable[[object], str | None] | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._group = entry_point_group or f"suite.{kind}s"
        self._check = check
        self._pending: dict[str, EntryPoint] | None = None  # found, not loaded yet
        self._broken: dict[str, str] = {}  # name -> why its entry point was left out

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name``; a name may be taken once."""

        def decorate(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return decorate

    def _entry_points(self) -> dict[str, EntryPoint]:
        if self._pending is None:
            self._pending = {}
            try:
                found = entry_points(group=self._group)
            except Exception as exc:  # noqa: BLE001 - broken package metadata
                print(f"warning: cannot read the {self._group} entry points: {exc}", file=sys.stderr)
                found = ()
            for ep in found:
                if ep.name not in self._items:
                    self._pending.setdefault(ep.name, ep)
        return self._pending

    def _load(self, name: str) -> bool:
        """Load entry point ``name`` if one is pending; False when it is broken."""
        ep = self._entry_points().pop(name, None)
        if ep is None:
            return name not in self._broken
        try:
            obj = ep.load()
            if name in self._items:
                return True  # its import registered it (e.g. a @register_model builder)
            problem = self._check(obj) if self._check is not None else None
        except Exception as exc:  # noqa: BLE001 - any failure of an outside package
            problem = f"{type(exc).__name__}: {exc}"
        if problem is None:
            self._items[name] = obj
            return True
        self._broken[name] = (f"the {self._group} entry point {name!r} ({ep.value}) cannot be "
                              f"used and is ignored: {problem}; fix or uninstall the package "
                              "that declares it")
        print(f"warning: {self._broken[name]}", file=sys.stderr)
        return False

    def _load_all(self) -> None:
        for name in list(self._entry_points()):
            self._load(name)

    def get(self, name: str) -> T:
        """The plugin registered as ``name``; unknown names list the known ones."""
        if name not in self._items and isinstance(name, str):
            self._load(name)
        try:
            return self._items[name]
        except (KeyError, TypeError):
            if name in self._broken:
                raise PluginError(self._broken[name]) from None
            known = ", ".join(self.names())
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{did_you_mean(name, self.names())}; "
                f"known {self.kind}s: {known}"
            ) from None

    def broken(self, name: str) -> str | None:
        """Why the entry point ``name`` was left out, or None if it was not."""
        return self._broken.get(name)

    def names(self) -> list[str]:
        """Registered names, sorted (every usable entry point loaded)."""
        self._load_all()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        if name not in self._items and isinstance(name, str):
            self._load(name)
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def subclass_check(base: type) -> Callable[[object], str | None]:
    """A ``check`` for :class:`Registry`: the plugin must be a subclass of ``base``."""

    def check(obj: object) -> str | None:
        if isinstance(obj, type) and issubclass(obj, base):
            return None
        return (f"it loads {obj!r}, which is not a subclass of "
                f"{base.__module__}.{base.__qualname__}")

    return check


def instance_check(cls: type) -> Callable[[object], str | None]:
    """A ``check`` for :class:`Registry`: the plugin must be an instance of ``cls``."""

    def check(obj: object) -> str | None:
        if isinstance(obj, cls):
            return None
        return f"it loads {obj!r}, which is not a {cls.__module__}.{cls.__qualname__}"

    return check
