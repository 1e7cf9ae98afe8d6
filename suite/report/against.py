"""Each pruning method against the best of its row, tested on the seeds.

With ``[report] against_best = true`` a report adds, for every row, each other pruning
method's difference to the row's best (``Δ = method − best``), the standard error of
that difference and the two-sided p of Welch's t-test on the finished seeds: unequal
variances, Welch–Satterthwaite degrees of freedom. A small p says the gap is larger
than the seed-to-seed spread explains; a large one says the seeds cannot tell the two
methods apart. The p values are not corrected for the several comparisons of a row.

Everything is computed here from the per-seed values in the table's summaries; the
Student t tail comes from the regularized incomplete beta function (a continued
fraction), so no statistics package is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from suite.report.model import Summary, Table

#: The continued fraction converges in a few dozen terms for the arguments a t-test
#: gives; these bound it.
_MAX_TERMS = 400
_EPS = 1e-15
_TINY = 1e-300


@dataclass(frozen=True)
class Welch:
    """Welch's t-test of ``mean(a) − mean(b)``: the difference, its standard error, the
    Welch–Satterthwaite degrees of freedom and the two-sided p."""

    delta: float
    se: float
    df: float
    p: float


@dataclass(frozen=True)
class AgainstBest:
    """One pruning method of one row (``summary``) against the row's best (``best``)."""

    key: dict[str, Any]
    method: str
    summary: Summary
    best: str
    best_summary: Summary
    test: Welch | None  # None when either side has fewer than two finished seeds

    @property
    def delta(self) -> float:
        """``method − best`` in the metric's points; known from one seed each."""
        return self.summary.mean - self.best_summary.mean

    def delta_text(self, precision: int, pm: str = " ± ") -> str:
        """E.g. '−1.32 ± 0.45' (the difference and its standard error); '−1.32' when a
        side has one seed, so no standard error."""
        text = _signed(self.delta, precision)
        return text if self.test is None else f"{text}{pm}{self.test.se:.{precision}f}"

    @property
    def df_text(self) -> str:
        """The test's degrees of freedom, e.g. '3.6'; '—' without a test, '∞' without spread."""
        if self.test is None:
            return "—"
        return "∞" if math.isinf(self.test.df) else f"{self.test.df:.1f}"

    @property
    def p_text(self) -> str:
        """E.g. '0.021', '< 0.001'; '—' without a test."""
        if self.test is None:
            return "—"
        return "< 0.001" if self.test.p < 0.001 else f"{self.test.p:.3f}"


def welch(a: Sequence[float], b: Sequence[float]) -> Welch | None:
    """Welch's two-sample t-test of ``mean(a) − mean(b)``; None below two values a side.

    Two sides without any spread (every seed equal, as deterministic runs can be) give
    p = 1 when their means agree and p = 0 when they do not.
    """
    if len(a) < 2 or len(b) < 2:
        return None
    mean_a, mean_b = math.fsum(a) / len(a), math.fsum(b) / len(b)
    var_a = math.fsum((x - mean_a) ** 2 for x in a) / (len(a) - 1)
    var_b = math.fsum((x - mean_b) ** 2 for x in b) / (len(b) - 1)
    part_a, part_b = var_a / len(a), var_b / len(b)
    delta, se = mean_a - mean_b, math.sqrt(part_a + part_b)
    if se == 0.0:
        return Welch(delta, 0.0, math.inf, 1.0 if delta == 0.0 else 0.0)
    df = (part_a + part_b) ** 2 / (part_a ** 2 / (len(a) - 1) + part_b ** 2 / (len(b) - 1))
    return Welch(delta, se, df, student_t_two_sided_p(delta / se, df))


def student_t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` (> 0, not necessarily whole) degrees
    of freedom: the regularized incomplete beta ``I_x(df/2, 1/2)`` at ``x = df/(df+t²)``."""
    if not df > 0:
        raise ValueError(f"degrees of freedom must be > 0, not {df!r}")
    if math.isinf(df):  # the normal limit
        return math.erfc(abs(t) / math.sqrt(2.0))
    return regularized_beta(df / (df + t * t), df / 2.0, 0.5)


def regularized_beta(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function ``I_x(a, b)`` for ``0 <= x <= 1``,
    ``a, b > 0``, by its continued fraction (modified Lentz), on the side of ``x`` where
    the fraction converges fast."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must lie in [0, 1], not {x!r}")
    if x in (0.0, 1.0):
        return x
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - regularized_beta(1.0 - x, b, a)
    log_front = (a * math.log(x) + b * math.log1p(-x)
                 + math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b))
    return math.exp(log_front) * _beta_fraction(x, a, b) / a


def _beta_fraction(x: float, a: float, b: float) -> float:
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    out = d
    for m in range(1, _MAX_TERMS + 1):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            out *= c * d
        if abs(c * d - 1.0) < _EPS:
            return out
    raise ArithmeticError(f"the incomplete beta fraction did not converge at x={x}, a={a}, b={b}")


def _signed(value: float, precision: int) -> str:
    return f"{value:+.{precision}f}".replace("-", "−")


def rows(table: Table) -> list[AgainstBest]:
    """Every finished pruning method of every row against that row's best, row by row
    in the table's order, methods in column order."""
    out = []
    for row in table.rows:
        if row.best is None:
            continue
        best = row.cells[row.best]
        for method in table.pruning:
            s = row.cells.get(method)
            if method == row.best or s is None or s.mean is None:
                continue
            out.append(AgainstBest(row.key, method, s, row.best, best,
                                   welch(s.values, best.values)))
    return out
