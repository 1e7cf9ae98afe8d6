"""A progress reporter that stops a training run part-way, as Ctrl-C would (resume tests)."""

from __future__ import annotations

from backends.base import NullProgress


class InterruptAfter(NullProgress):
    """Raises KeyboardInterrupt once more than ``steps`` training steps were reported."""

    def __init__(self, steps: int) -> None:
        self.steps_left = steps

    def advance(self, steps: int, **postfix) -> None:
        self.steps_left -= steps
        if self.steps_left < 0:
            raise KeyboardInterrupt
