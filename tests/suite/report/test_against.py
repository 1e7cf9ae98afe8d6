"""Welch's t-test of each pruning method against its row's best, checked against closed
forms of Student's t and hand-computed examples."""

from __future__ import annotations

import math

import pytest

from suite.report.against import (
    AgainstBest,
    Welch,
    regularized_beta,
    rows,
    student_t_two_sided_p,
    welch,
)
from suite.report.model import Row, Summary, Table

TS = [0.0, 0.3, 1.0, 2.5, 4.0, 12.0, -1.7]


def closed_form_p(t: float, df: int) -> float:
    """Two-sided p of Student's t where the CDF has a closed form (df 1, 2 and 4)."""
    t = abs(t)
    if df == 1:
        return 1.0 - 2.0 / math.pi * math.atan(t)
    if df == 2:
        return 1.0 - t / math.sqrt(2.0 + t * t)
    if df == 4:
        u = t / math.sqrt(4.0 + t * t)
        return 1.0 - 1.5 * u + 0.5 * u ** 3
    raise ValueError(df)


@pytest.mark.parametrize("df", [1, 2, 4])
@pytest.mark.parametrize("t", TS)
def test_the_t_tail_matches_its_closed_forms(t, df):
    assert student_t_two_sided_p(t, df) == pytest.approx(closed_form_p(t, df), rel=1e-10, abs=1e-14)


def test_the_t_tail_at_infinite_df_is_the_normal_one():
    for t in TS:
        assert student_t_two_sided_p(t, math.inf) == pytest.approx(math.erfc(abs(t) / math.sqrt(2)))
    # and a large df is close to it
    assert student_t_two_sided_p(1.96, 1e7) == pytest.approx(math.erfc(1.96 / math.sqrt(2)), rel=1e-6)


@pytest.mark.parametrize("x", [0.0, 0.05, 0.3, 0.5, 0.77, 0.999, 1.0])
def test_the_incomplete_beta_matches_its_closed_forms(x):
    assert regularized_beta(x, 1.0, 1.0) == pytest.approx(x)
    assert regularized_beta(x, 3.0, 1.0) == pytest.approx(x ** 3)
    assert regularized_beta(x, 1.0, 2.5) == pytest.approx(1.0 - (1.0 - x) ** 2.5)
    assert regularized_beta(x, 2.0, 5.0) == pytest.approx(1.0 - regularized_beta(1.0 - x, 5.0, 2.0))
    assert regularized_beta(0.5, 3.7, 3.7) == pytest.approx(0.5)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="x must lie in"):
        regularized_beta(1.5, 1.0, 1.0)
    with pytest.raises(ValueError, match="degrees of freedom must be > 0"):
        student_t_two_sided_p(1.0, 0.0)


def test_welch_equal_spreads():
    # means 2 and 5, variances 1 and 1, n = 3 each: se = sqrt(1/3 + 1/3), df = 4
    w = welch([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert w.delta == -3.0
    assert w.se == pytest.approx(math.sqrt(2 / 3))
    assert w.df == pytest.approx(4.0)
    assert w.p == pytest.approx(closed_form_p(-3.0 / math.sqrt(2 / 3), 4))


def test_welch_unequal_sizes_and_spreads():
    # a: mean 1, variance 2, n 2 (part 1); b: mean 2, variance 3, n 3 (part 1)
    # se = sqrt(2), df = (1 + 1)^2 / (1^2 / 1 + 1^2 / 2) = 8/3
    w = welch([0.0, 2.0], [1.0, 1.0, 4.0])
    assert w.delta == -1.0
    assert w.se == pytest.approx(math.sqrt(2.0))
    assert w.df == pytest.approx(8 / 3)
    t = -1 / math.sqrt(2)
    assert closed_form_p(t, 4) < w.p < closed_form_p(t, 2)  # between the tails of df 4 and 2


def test_welch_needs_two_seeds_a_side_and_handles_no_spread():
    assert welch([1.0], [2.0, 3.0]) is None
    assert welch([1.0, 2.0], []) is None
    assert welch([5.0, 5.0], [5.0, 5.0, 5.0]) == Welch(0.0, 0.0, math.inf, 1.0)
    assert welch([5.0, 5.0], [4.0, 4.0]) == Welch(1.0, 0.0, math.inf, 0.0)


def summary(*values: float) -> Summary:
    mean = sum(values) / len(values) if values else None
    return Summary(mean=mean, n=len(values), values=list(values))


def table_of(*rows_: Row) -> Table:
    return Table("s", "s", "top1", ["dense", "dpf", "sm", "dsr", "snip"], ["sparsity"],
                 list(rows_), 2, baselines=["dense"], pruning=["dpf", "sm", "dsr", "snip"])


def test_rows_compare_every_other_finished_pruning_method_with_the_best():
    row = Row({"sparsity": 0.9},
              {"dense": summary(80.0, 80.0, 80.0), "dpf": summary(1.0, 2.0, 3.0),
               "sm": summary(4.0, 5.0, 6.0), "dsr": summary(3.5), "snip": Summary(missing=3)},
              best="sm", bests=["sm"])
    empty = Row({"sparsity": 0.95}, {"dense": summary(80.0)}, best=None)
    got = rows(table_of(row, empty))
    assert [(a.method, a.best) for a in got] == [("dpf", "sm"), ("dsr", "sm")]
    dpf, dsr = got
    assert dpf.delta == -3.0 and dpf.test.df == pytest.approx(4.0)
    assert dpf.delta_text(2) == "−3.00 ± 0.82"
    assert dpf.df_text == "4.0"
    assert dpf.p_text == f"{closed_form_p(3.0 / math.sqrt(2 / 3), 4):.3f}" == "0.021"
    # one seed: the difference, and no test
    assert dsr.test is None and dsr.delta == -1.5
    assert (dsr.delta_text(2), dsr.df_text, dsr.p_text) == ("−1.50", "—", "—")


def test_texts_of_a_tiny_p_and_of_no_spread():
    best, other = summary(90.0, 90.1, 90.2), summary(70.0, 70.1, 70.2)
    a = AgainstBest({}, "dpf", other, "sm", best, welch(other.values, best.values))
    assert a.p_text == "< 0.001" and a.delta_text(1, pm=" +- ") == "−20.0 +- 0.1"
    flat = AgainstBest({}, "dpf", summary(1.0, 1.0), "sm", summary(2.0, 2.0),
                       welch([1.0, 1.0], [2.0, 2.0]))
    assert (flat.df_text, flat.p_text) == ("∞", "< 0.001")
