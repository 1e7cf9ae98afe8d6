"""*When* masks change and *how much*: pure functions of the step.

Schedules are given to methods as fractions of training and turned into steps here,
with the same rounding as the learning-rate curve (:func:`suite.recipes.lr_at`).
Steps are optimizer iterations; ``step`` in the hooks is the 1-based count of
finished steps, so step ``t`` is "after ``t`` updates".
"""

from __future__ import annotations

import math

from suite.recipes import TrainRecipe, milestone_steps


def cubic_sparsity(step: int, final: float, *, begin: int, end: int, initial: float = 0.0) -> float:
    """Zhu & Gupta's gradual schedule ``s_t = s_f + (s_i - s_f)(1 - (t - t0)/(t1 - t0))^3``.

    ``initial`` (s_i) before ``begin`` (t0), ``final`` (s_f) from ``end`` (t1) on, and the
    cubic in between: pruning is fast early and slows down as the target is approached.
    ``end <= begin`` jumps straight to ``final`` at ``begin``.
    """
    if step < begin:
        return initial
    if step >= end:
        return final
    progress = (step - begin) / (end - begin)
    return final + (initial - final) * (1.0 - progress) ** 3


def cosine_decay(step: int, total: int, start: float, end: float = 0.0) -> float:
    """``start`` decayed to ``end`` along half a cosine over ``total`` steps (then ``end``)."""
    if total <= 0 or step >= total:
        return end
    step = max(step, 0)
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * step / total))


def fraction_step(fraction: float, total_steps: int) -> int:
    """The step at ``fraction`` of training (rounded like the lr milestones)."""
    return int(round(fraction * total_steps))


#: Where a cosine or linear learning-rate schedule, which has no drops, puts the default
#: end of the gradual pruning schedules: where the default step recipe drops the second time.
SMOOTH_SCHEDULE_DROP = 0.75


def lr_drop_step(recipe: TrainRecipe, total_steps: int, index: int = 1) -> int:
    """The step of learning-rate drop number ``index`` (0-based; default the second).

    With fewer drops than that, the last drop; with none, the end of training. A
    ``cosine`` or ``linear`` schedule has no drops (its milestones are unused): then
    :data:`SMOOTH_SCHEDULE_DROP` of training, a choice that keeps the default pruning
    window of the step recipe.
    """
    if recipe.schedule != "step":
        return fraction_step(SMOOTH_SCHEDULE_DROP, total_steps)
    drops = milestone_steps(recipe, total_steps)
    if not drops:
        return total_steps
    return drops[min(index, len(drops) - 1)]


def resolve_window(begin: float, end: float | None, recipe: TrainRecipe,
                   total_steps: int) -> tuple[int, int]:
    """``(t0, t1)`` in steps from fractions; ``end=None`` means the second lr drop.
    ``t1`` is clamped to the end of training and never precedes ``t0``."""
    t0 = fraction_step(begin, total_steps)
    t1 = lr_drop_step(recipe, total_steps) if end is None else fraction_step(end, total_steps)
    t1 = min(t1, total_steps)
    return t0, max(t0, t1)


def every(step: int, period: int, *, begin: int = 0, end: int | None = None) -> bool:
    """True at ``begin``, ``begin + period``, ... up to and including ``end`` (if given)."""
    if step < begin or (end is not None and step > end):
        return False
    return (step - begin) % period == 0
