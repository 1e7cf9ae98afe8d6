"""Paper-style reports from a fabricated store: layout, footnotes, references, figures."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from suite import report
from suite.cli import main
from suite.report import figures as figures_mod
from suite.spec import load_spec
from suite.store import Store


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def table(paper_store):
    spec_path, results = paper_store
    spec = load_spec(spec_path)
    store = Store(results, create=False)
    return report.summarize(spec, report.frame(spec, store))


def test_rows_are_grouped_by_model_with_their_dense_accuracy(table):
    assert table.baselines == ["dense"] and table.pruning == ["dpf", "snip", "sm"]
    assert table.constant == {"dataset": "cifar10"}
    assert table.shown_group_columns == ["model"]
    assert [g.key["model"] for g in table.groups] == ["resnet20", "wrn28_2"]
    assert [[r.key["sparsity"] for r in g.rows] for g in table.groups] == [[0.5, 0.9], [0.5, 0.9, 0.99]]
    dense = table.groups[0].baseline["dense"]
    assert dense.n == 3 and dense.mean == pytest.approx(92.1) and dense.std == pytest.approx(0.1)
    assert table.group_cell(table.groups[0], "model") == "ResNet-20 (0.27M)"
    assert table.group_cell(table.groups[1], "model") == "WRN-28-2 (1.47M)"
    assert all(row.bests == ["dpf"] for g in table.groups for row in g.rows)
    assert table.label("sm") == "SM (momentum)" and table.label("snip") == "SNIP"


def test_failed_missing_running_and_off_target_cells_get_footnotes(table):
    notes = {n.text: n.mark for n in table.footnotes}
    assert notes == {
        "sparsity off target: 47.0% achieved for 50%": "a",
        "1 of 3 seeds failed": "b",
        "1 of 3 seeds still running": "c",
        "3 of 3 seeds not run yet": "d",
    }
    r20, wrn = table.groups
    assert r20.rows[0].cells["sm"].marks == ["a"]
    assert r20.rows[1].cells["snip"].marks == ["b"] and r20.rows[1].cells["snip"].n == 2
    assert wrn.rows[0].cells["dpf"].marks == ["c"]
    missing = wrn.rows[2].cells["sm"]
    assert missing.mean is None and missing.marks == ["d"]
    assert r20.rows[0].cells["dpf"].marks == []


def test_references_are_compared_with_the_reproduced_values(table):
    assert table.sources == ["fixture value, not a published number", "another fixture source"]
    by_method = {c.method: c for c in table.comparisons}
    dpf = by_method["dpf"]
    assert dpf.key == {"dataset": "cifar10", "model": "resnet20", "sparsity": 0.9}
    assert dpf.reference.value == 90.0 and dpf.reference.std == 0.25 and dpf.source == 1
    assert dpf.delta == pytest.approx(dpf.reproduced.mean - 90.0)
    assert by_method["dense"].delta == pytest.approx(0.1) and by_method["dense"].source == 2
    cell = table.groups[0].rows[1].cells["dpf"]
    assert cell.reference is dpf.reference and cell.delta == pytest.approx(dpf.delta)


def test_latex_is_laid_out_like_the_paper(paper_store):
    spec_path, results = paper_store
    res = invoke("report", spec_path, "--results", results, "--format", "latex")
    assert res.exit_code == 0, res.output
    tex = res.output
    assert r"\caption{CIFAR-10 \& friends: unstructured\_pruning: top-1 test accuracy (\%) on CIFAR-10" in tex
    assert "Model & Dense & Target sparsity & DPF & SNIP & SM (momentum) \\\\" in tex
    assert (r"ResNet-20 (0.27M) & 92.10 $\pm$ 0.10 & 50\% & \textbf{91.34 $\pm$ 0.15} & "
            r"88.90 $\pm$ 0.15 & 90.52 $\pm$ 0.15$^{\mathrm{a}}$ \\") in tex
    assert r" &  & 90\% & \textbf{88.37 $\pm$ 0.15} & 76.95 $\pm$ 0.11$^{\mathrm{b}}$" in tex
    assert r"--$^{\mathrm{d}}$ \\" in tex  # the cell that never ran
    assert r"$^{\mathrm{b}}$\,1 of 3 seeds failed." in tex
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in tex
    assert r"\hline" not in tex
    # reproduced against published, with the difference and the source
    assert r"ResNet-20 & DPF & 90\% & 88.37 $\pm$ 0.15 & 90.00 $\pm$ 0.25~[1] & $-1.63$ \\" in tex
    assert r"[1]~fixture value, not a published number." in tex
    # every label is escaped: no bare underscore outside commands
    body = re.sub(r"\\label\{[^}]*\}", "", tex)
    assert not re.search(r"(?<!\\)_", body)
    assert r"\documentclass" not in tex  # a fragment unless --standalone


def test_html_is_one_standalone_file_with_tables_and_figures(paper_store):
    spec_path, results = paper_store
    res = invoke("report", spec_path, "--results", results, "--format", "html")
    assert res.exit_code == 0, res.output
    html = res.output
    for forbidden in ("<script", "<link", "@import", "http://", "https://", "url("):
        assert forbidden not in html
    uris = re.findall(r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(uris) == 6  # per model: accuracy, curves, flips
    svg = ElementTree.fromstring(base64.b64decode(uris[0]))
    assert svg.tag.endswith("svg")

    class Checker(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.tables, self.bold = [], 0, []

        def handle_starttag(self, tag, attrs):
            if tag not in ("meta", "img", "br"):
                self.stack.append(tag)
            self.tables += tag == "table"
            if tag == "td" and ("class", "best") in attrs:
                self.bold.append(tag)

        def handle_endtag(self, tag):
            assert self.stack.pop() == tag

    checker = Checker()
    checker.feed(html)
    assert checker.stack == [] and checker.tables == 2 and len(checker.bold) == 5
    assert 'rowspan="2"' in html and 'rowspan="3"' in html  # model and dense span the group
    assert "<sup>d</sup>" in html and "3 of 3 seeds not run yet." in html
    assert "−1.63" in html and "fixture value, not a published number" in html
    assert "CIFAR-10 &amp; friends: unstructured_pruning" in html  # escaped once


def test_markdown_and_csv_keep_their_layout_and_gain_references(paper_store):
    spec_path, results = paper_store
    md = invoke("report", spec_path, "--results", results, "--format", "markdown").output
    assert "| dataset | model | sparsity | Dense | DPF | SNIP | SM (momentum) |" in md
    assert "| CIFAR-10 | ResNet-20 | 90% | 92.10 ± 0.10 (n=3) | **88.37 ± 0.15** (n=3) |" in md
    assert "| ResNet-20 | DPF | 90% | 88.37 ± 0.15 | 90.00 ± 0.25 | −1.63 | [1] |" in md
    assert "\n† achieved sparsity more than 0.5 percentage points off its target." in md
    csv = invoke("report", spec_path, "--results", results, "--format", "csv").output
    header = csv.splitlines()[0].split(",")
    assert header[:5] == ["spec", "dataset", "model", "sparsity", "method"]
    assert header[-4:] == ["reference", "reference_std", "delta", "source"]
    line = next(x for x in csv.splitlines() if ",resnet20,0.9,dpf," in x)
    assert ",90.0,0.25,-1.6" in line and line.endswith('"fixture value, not a published number"')


def test_figures_are_written_as_pdf_and_svg_and_included_by_latex(paper_store, tmp_path):
    spec_path, results = paper_store
    out = tmp_path / "paper" / "tables.tex"
    figdir = tmp_path / "paper" / "figures"
    res = invoke("report", spec_path, "--results", results, "--format", "latex", "--out", out,
                 "--figures", figdir)
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in figdir.iterdir())
    stems = [f"paper-like-cifar10-{m}-{k}" for m in ("resnet20", "wrn28-2")
             for k in ("accuracy", "curves", "flips")]
    assert names == sorted(f"{s}.{ext}" for s in stems for ext in ("pdf", "svg"))
    assert all((figdir / n).read_bytes()[:4] in (b"%PDF", b"<?xm") for n in names)
    tex = out.read_text()
    assert r"\includegraphics[width=0.6\linewidth]{figures/paper-like-cifar10-resnet20-accuracy.pdf}" in tex
    assert r"\includegraphics[width=\linewidth]{figures/paper-like-cifar10-wrn28-2-flips.pdf}" in tex


def test_figures_draw_one_line_per_method_and_flips_only_for_moving_masks(paper_store):
    spec_path, results = paper_store
    spec = load_spec(spec_path)
    store = Store(results, create=False)
    table = report.summarize(spec, report.frame(spec, store))
    curves, flips = report.details(spec, store)
    assert set(flips["method"]) == {"dpf", "sm"}
    wrn = table.groups[1]
    acc = figures_mod.accuracy_vs_sparsity(table, wrn)
    labels = acc.axes[0].get_legend_handles_labels()[1]
    assert labels == ["Dense (95.10)", "DPF", "SNIP", "SM (momentum)"]
    assert [t.get_text() for t in acc.axes[0].get_xticklabels()] == ["50%", "90%", "99%"]
    cur = figures_mod.training_curves(table, wrn, curves)
    assert [ax.get_title() for ax in cur.axes if ax.get_visible()] == ["50% sparsity", "90% sparsity",
                                                                       "99% sparsity"]
    assert len(cur.axes[2].get_lines()) == 3  # dense, dpf, snip: sm never ran at 99%
    flip = figures_mod.flip_ratios(table, wrn, flips)
    visible = [ax for ax in flip.axes if ax.get_visible()]
    assert {line.get_label() for ax in visible for line in ax.get_lines()} == {"DPF", "SM (momentum)"}
    assert [ax.get_title() for ax in visible] == ["50% sparsity", "90% sparsity", "99% sparsity"]
    # deterministic output: the same figure built twice gives the same bytes
    again = figures_mod.accuracy_vs_sparsity(table, wrn)
    assert figures_mod.svg_data_uri(acc) == figures_mod.svg_data_uri(again)


def test_a_user_template_replaces_the_builtin_one(paper_store, tmp_path):
    spec_path, results = paper_store
    mine = tmp_path / "mine.tex.j2"
    mine.write_text("{% for t in tables %}{% for g in t.groups %}{{ t.group_cell(g, 'model') | latex }}"
                    "={{ g.baseline.dense.text(1) }};{% endfor %}{% endfor %}\n")
    res = invoke("report", spec_path, "--results", results, "--format", "latex", "--template", mine)
    assert res.output == "ResNet-20 (0.27M)=92.1 ± 0.1;WRN-28-2 (1.47M)=95.1 ± 0.1;"


def test_a_collection_reports_every_spec(paper_store, tmp_path):
    spec_path, results = paper_store
    second = tmp_path / "second.toml"
    second.write_text(spec_path.read_text().replace('name = "paper_like"', 'name = "second"')
                      .replace('title = "CIFAR-10 & friends: unstructured_pruning"', 'title = "Second"'))
    coll = tmp_path / "all.toml"
    coll.write_text('[collection]\nname = "Both tables"\ndescription = "Two specs."\n'
                    'specs = ["paper_like.toml", "second.toml"]\n')
    html = invoke("report", coll, "--results", results, "--format", "html").output
    assert "<h1>Both tables</h1>" in html and '<a href="#second">Second</a>' in html
    assert html.count('<table class="paper">') == 2
    csv = invoke("report", coll, "--results", results, "--format", "csv").output
    assert {line.split(",")[0] for line in csv.splitlines()[1:]} == {"paper_like", "second"}


def test_without_results_every_cell_is_reported_as_not_run(paper_spec, tmp_path):
    empty = tmp_path / "no-results"
    tex = invoke("report", paper_spec, "--results", empty, "--format", "latex").output
    assert r"$^{\mathrm{a}}$\,3 of 3 seeds not run yet." in tex
    assert r"ResNet-20 & --$^{\mathrm{a}}$ & 50\% & --$^{\mathrm{a}}$" in tex
    html = invoke("report", paper_spec, "--results", empty, "--format", "html").output
    assert "<img" not in html and "Runs: 0 done, 0 failed, 0 running, 51 not run yet." in html
    assert not empty.exists()


def test_one_seed_is_not_called_mean_and_std(paper_spec, tmp_path):
    paper_spec.write_text(paper_spec.read_text().replace("seeds = [0, 1, 2]", "seeds = [0]"))
    tex = invoke("report", paper_spec, "--results", tmp_path / "none", "--format", "latex").output
    assert "on CIFAR-10, one seed." in tex and "std over" not in tex
    html = invoke("report", paper_spec, "--results", tmp_path / "none", "--format", "html").output
    assert "on CIFAR-10, one seed." in html
