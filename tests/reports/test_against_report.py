"""`[report] against_best`: each format's table of every pruning method against its row's
best, on the fabricated paper-like store (dpf is the best of every row there)."""

from __future__ import annotations

import csv
import io
import math
import re

import pytest
from click.testing import CliRunner

from suite.cli import main
from suite.errors import SpecError
from suite.spec import parse_spec

TITLE = 'title = "CIFAR-10 & friends: unstructured_pruning"\n'


def render(spec_path, results, fmt: str) -> str:
    result = CliRunner().invoke(main, ["report", str(spec_path), "--results", str(results),
                                       "--format", fmt], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def df4_p(t: float) -> float:
    u = abs(t) / math.sqrt(4.0 + t * t)
    return 1.0 - 1.5 * u + 0.5 * u ** 3


def test_markdown_lists_each_method_against_the_best_of_its_row(against_store):
    text = render(*against_store, "markdown")
    lines = [line for line in text.splitlines() if re.match(r"\| CIFAR-10 \| [^|]+ \| \d+% \| DPF \|", line)]
    # two rows of resnet20, three of wrn28_2, snip and sm each; sm never ran at wrn28_2 99%
    assert len(lines) == 2 * 2 + 3 * 2 - 1
    # sm trails dpf by 0.5 * (1 + 10 * 0.5^4) at 50% in every seed; both spread 0.15
    se = math.sqrt(2 * 0.15 ** 2 / 3)
    assert (f"| CIFAR-10 | ResNet-20 | 50% | DPF | SM (momentum) | −0.81 ± 0.12 | 4.0 | "
            f"{df4_p(0.8125 / se):.3f} |") in lines
    # snip's seed 2 failed at resnet20 90%: two seeds against three, fewer degrees of freedom
    (snip_90,) = [line for line in lines if "| ResNet-20 | 90% | DPF | SNIP |" in line]
    assert "| −11.42 ± 0.11 | 2.9 | < 0.001 |" in snip_90
    assert "Welch's t-test" in text and "not corrected for the row's several comparisons" in text


def test_html_and_latex_have_the_table_too(against_store):
    html = render(*against_store, "html")
    assert '<table class="reference against">' in html
    assert html.count('<td class="key">SNIP</td>') == 5
    tex = render(*against_store, "latex")
    assert re.search(r"\\label\{tab:[\w-]+-against\}", tex)
    assert (r"ResNet-20 & 50\% & DPF & SM (momentum) & $-$0.81 $\pm$ 0.12 & 4.0 & "
            f"{df4_p(0.8125 / math.sqrt(0.015)):.3f} \\\\") in tex
    assert r"WRN-28-2 & 99\% & DPF & SNIP &" in tex


def test_csv_has_the_test_beside_each_cell(against_store):
    rows = list(csv.DictReader(io.StringIO(render(*against_store, "csv"))))
    def line(method, model, sparsity):
        (out,) = [r for r in rows if (r["method"], r["model"], r["sparsity"]) == (method, model, sparsity)]
        return out
    sm = line("sm", "resnet20", "0.5")
    assert sm["best"] == "dpf" and float(sm["delta_best"]) == pytest.approx(-0.8125)
    assert float(sm["se_best"]) == pytest.approx(math.sqrt(0.015))
    assert float(sm["df_best"]) == pytest.approx(4.0)
    assert float(sm["p_best"]) == pytest.approx(df4_p(0.8125 / math.sqrt(0.015)))
    best, dense = line("dpf", "resnet20", "0.5"), line("dense", "resnet20", "0.5")
    assert best["best"] == "dpf" and best["delta_best"] == best["p_best"] == ""
    assert dense["best"] == dense["delta_best"] == ""


def test_without_the_key_no_format_has_it(paper_store):
    for fmt in ("markdown", "html", "latex"):
        text = render(*paper_store, fmt)
        assert "Welch" not in text and "-against}" not in text and "reference against" not in text
    assert "p_best" not in render(*paper_store, "csv").splitlines()[0]


def test_a_bad_value_names_the_key(paper_spec):
    text = paper_spec.read_text().replace(TITLE, TITLE + 'against_best = "yes"\n')
    with pytest.raises(SpecError, match=r"report\.against_best.*true or false"):
        parse_spec(text)
