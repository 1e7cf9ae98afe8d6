"""The Markdown report of a 12,000-cell grid (six methods, four models, 500
sparsities, nothing stored yet): how long a user waits for `suite report`.

    tox -e bench -- tests/benchmarks/test_report_bench.py
"""

from __future__ import annotations

import pytest

from suite import report
from suite.spec import parse_spec

pytestmark = pytest.mark.benchmark

SPARSITIES = ", ".join(f"{0.001 * i:.3f}" for i in range(1, 501))
SPEC = f"""
[suite]
name = "big"
seeds = [0]
[grid]
method = ["dpf", "snip", "sm", "dsr", "oneshot", "incremental"]
model = ["mlp", "small_cnn", "resnet20", "resnet32"]
dataset = ["synthetic"]
sparsity = [{SPARSITIES}]
[train]
epochs = 1
"""


def test_markdown_report_of_12000_cells(benchmark):
    spec = parse_spec(SPEC, "big.toml")
    text = benchmark.pedantic(report.report, args=([spec], None, "markdown"), rounds=2, iterations=1)
    assert text.count("\n| synthetic |") == 2000  # a row per model and sparsity
