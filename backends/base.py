"""The backend protocol: ``fit(cell, seed, run_dir, progress) -> result record``.

All device and rank logic stays inside a backend; the runner and the store see only
the returned record: ``ResultRecord.to_json()`` (a JSON object, see :mod:`suite.result`;
a :class:`~suite.result.ResultRecord` is taken too), which the runner reads through
``ResultRecord.from_json`` before it is stored. A backend
raises :class:`RunFailed` for a run that failed in a way worth recording (NaN loss,
divergence); any other exception is recorded as a failure too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol

from suite.options import NoOptions
from suite.registry import Registry, subclass_check


class Progress(Protocol):
    """Where a backend reports the progress of the current run."""

    def start(self, total_steps: int, description: str) -> None:
        """A run of ``total_steps`` optimizer steps begins (or resumes)."""

    def advance(self, steps: int, **postfix: Any) -> None:
        """``steps`` more steps are done; ``postfix`` holds e.g. epoch, loss, top1."""

    def close(self) -> None:
        """The run ended."""


class NullProgress:
    """A Progress that shows nothing."""

    def start(self, total_steps: int, description: str) -> None:
        pass

    def advance(self, steps: int, **postfix: Any) -> None:
        pass

    def close(self) -> None:
        pass


class RunFailed(Exception):
    """A run that ended as failed; ``partial`` holds the last good metrics."""

    def __init__(self, message: str, partial: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.partial = partial or {}


class Backend:
    """Base class of backends. ``Options`` is filled from ``[backend.<name>]``."""

    name: ClassVar[str] = "base"
    Options: ClassVar[type] = NoOptions

    def __init__(self, options: Any) -> None:
        self.options = options

    def with_overrides(self, **overrides: Any) -> Backend:
        """A copy whose options have command-line overrides (e.g. device) applied."""
        import dataclasses

        known = {f.name for f in dataclasses.fields(self.options)}
        applied = {k: v for k, v in overrides.items() if v is not None and k in known}
        return type(self)(dataclasses.replace(self.options, **applied))

    def describe(self) -> str:
        """A short description of where runs execute (for the terminal)."""
        return self.name

    def fit(self, cell: Any, seed: int, run_dir: Path, progress: Progress) -> dict[str, Any]:
        """Train (or resume) ``cell`` with ``seed``, keeping artifacts in ``run_dir``;
        return the result record (see the module docstring)."""
        raise NotImplementedError


BACKENDS: Registry[type[Backend]] = Registry("backend", check=subclass_check(Backend))
