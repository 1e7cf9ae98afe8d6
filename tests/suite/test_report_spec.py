"""The spec side of reports: [[reference]], [report.labels], collections, `suite plan`'s
compute estimate, and the paper's specs."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from methods import METHODS
from suite.cli import main
from suite.collection import load_specs
from suite.errors import SpecError
from suite.estimate import estimate, run_cost
from suite.grid import cell_id, expand
from suite.spec import load_spec, parse_spec

SPECS = Path(__file__).resolve().parents[2] / "specs"

BASE = """
[suite]
name = "t"
seeds = [0, 1]
[grid]
method = ["dense", "dpf"]
model = ["mlp"]
dataset = ["digits"]
sparsity = [0.5, 0.9]
"""

REF = """
[[reference]]
source = "Somebody et al. 2020, Table 2"
method = "dpf"
model = "mlp"
dataset = "digits"
sparsity = 0.9
value = 97.5
"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def spec_error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "my.toml")
    msg = str(info.value)
    assert msg.startswith("my.toml: ")
    return msg


def test_references_attach_published_values_to_cells():
    spec = parse_spec(BASE + REF + REF.replace('method = "dpf"', 'method = "dense"')
                      .replace("sparsity = 0.9\n", "").replace("97.5", "98.25\nstd = 0.1"), "my.toml")
    dpf, dense = spec.references
    assert (dpf.method, dpf.sparsity, dpf.value, dpf.std, dpf.metric) == ("dpf", 0.9, 97.5, None, "top1")
    assert (dense.method, dense.sparsity, dense.value, dense.std) == ("dense", 0.0, 98.25, 0.1)
    assert dpf.source == "Somebody et al. 2020, Table 2"
    assert parse_spec(BASE, "my.toml").references == ()


@pytest.mark.parametrize("change,expected", [
    (("source = \"Somebody et al. 2020, Table 2\"\n", ""), "reference[0].source is missing"),
    (("Somebody et al. 2020, Table 2", " "), "reference[0].source is empty"),
    (("value = 97.5", "value = 975"), "reference[0].value = 975 is outside [0, 100]"),
    (("value = 97.5", 'value = "97.5"'), "reference[0].value = '97.5' has the wrong type"),
    (("value = 97.5", "value = 97.5\nstd = -1"), "reference[0].std = -1 must be >= 0"),
    (("value = 97.5", 'value = 97.5\nmetric = "top2"'),
     "reference[0].metric = 'top2' is not allowed; expected one of 'top1', 'top5', 'best_top1'"),
    (("sparsity = 0.9", "sparsity = 0.7"), "reference[0] (method='dpf', model='mlp', dataset='digits', "
                                            "sparsity=0.7) matches no cell of the grid"),
    (('model = "mlp"', 'model = "resnet20"'), "matches no cell of the grid"),
    (('method = "dpf"', 'method = "dpff"'), 'reference[0].method = \'dpff\' is not a known method '
                                             '(did you mean "dpf"?)'),
    (("sparsity = 0.9\n", ""), "reference[0].sparsity is missing; method 'dpf' has a sparsity axis"),
    (("value = 97.5", "value = 97.5\nvalu = 1"), 'unknown key reference[0].valu (did you mean "value"?)'),
])
def test_bad_references_are_rejected_naming_the_key(change, expected):
    assert expected in spec_error(BASE + REF.replace(*change))


def test_a_reference_for_dense_takes_no_sparsity_and_none_repeats():
    dense = REF.replace('method = "dpf"', 'method = "dense"')
    assert "method 'dense' has no sparsity axis; leave sparsity out" in spec_error(BASE + dense)
    assert "repeats the top1 reference of reference[0]" in spec_error(BASE + REF + REF)
    assert "must be an array of tables" in spec_error(BASE + "[reference]\nsource = 'x'\n")


def test_report_labels_rename_methods_models_and_datasets():
    spec = parse_spec(BASE + '[report]\ntitle = "T"\n[report.labels]\ndpf = "DPF (ours)"\n', "my.toml")
    assert spec.report.label_map == {"dpf": "DPF (ours)"} and spec.report.title == "T"
    assert "report.labels.dpf = 3 must be a non-empty string" in spec_error(
        BASE + "[report.labels]\ndpf = 3\n")
    assert "report.labels = 'x' must be a table" in spec_error(BASE + '[report]\nlabels = "x"\n')


def test_collections_list_specs_relative_to_their_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.toml").write_text(BASE)
    (tmp_path / "b.toml").write_text(BASE.replace('name = "t"', 'name = "u"'))
    coll = tmp_path / "all.toml"
    coll.write_text('[collection]\nname = "All"\nspecs = ["sub/a.toml", "b.toml"]\n')
    loaded = load_specs(coll)
    assert loaded.is_collection and loaded.name == "All"
    assert [s.name for s in loaded.specs] == ["t", "u"]
    single = load_specs(tmp_path / "b.toml")
    assert not single.is_collection and single.name == "u"

    def error(text: str) -> str:
        coll.write_text(text)
        with pytest.raises(SpecError) as info:
            load_specs(coll)
        assert str(info.value).startswith(f"{coll}: ")
        return str(info.value)

    assert "collection.specs[1] = 'c.toml': no such file" in error(
        '[collection]\nspecs = ["b.toml", "c.toml"]\n')
    assert "collection.specs = [] must be a non-empty list" in error("[collection]\nspecs = []\n")
    assert 'unknown key collection.spec (did you mean "specs"?)' in error(
        '[collection]\nspec = ["b.toml"]\n')
    assert "unknown key grid" in error('[collection]\nspecs = ["b.toml"]\n[grid]\nmethod = []\n')
    assert "two specs named 't'" in error('[collection]\nspecs = ["sub/a.toml", "b2.toml"]\n'
                                          if (tmp_path / "b2.toml").write_text(BASE) else "")
    (tmp_path / "nested.toml").write_text('[collection]\nspecs = ["b.toml"]\n')
    assert "is itself a collection" in error('[collection]\nspecs = ["nested.toml"]\n')
    # a collection is not a spec: loading one as a spec says what to do instead
    with pytest.raises(SpecError, match="collection of specs .* take it as a whole, or name "
                                        "one of its specs: nested.toml"):
        load_spec(coll)


def test_run_cost_follows_the_stated_formula():
    spec = parse_spec(BASE.replace('"mlp"', '"resnet20"').replace('"digits"', '"cifar10"')
                      + "[train]\nepochs = 300\n", "my.toml")
    cell = next(c for c in expand(spec) if c.method == "dense")
    cost = run_cost(cell, tflops=15.0, max_images_per_second=1e9)
    assert cost.macs == 40_551_040  # ResNet-20 on 32x32 (conv and linear layers)
    ips = 15e12 / (6 * 40_551_040)
    assert cost.images_per_second == pytest.approx(ips)
    assert cost.seconds == pytest.approx(300 * (50_000 + 10_000 / 3) / ips)
    capped = run_cost(cell, tflops=15.0, max_images_per_second=1000.0)
    assert capped.images_per_second == 1000.0


def test_plan_prints_cells_runs_and_gpu_hours(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(BASE.replace('"mlp"', '"resnet20"').replace('"digits"', '"cifar10"')
                    + "[train]\nepochs = 300\n")
    res = invoke("plan", path, "--results", tmp_path / "none", "--summary", "--tflops", "10",
                 "--max-images-per-second", "5000")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == "3 cells x 2 seeds = 6 runs: 0 done, 0 failed, 0 running, 6 pending"
    hours = 6 * 300 * (50_000 + 10_000 / 3) / 5000 / 3600
    assert lines[1] == (f"estimate: {hours:.2f} GPU-hours for all 6 runs, {hours:.2f} GPU-hours for "
                        "the 6 not done, at 10 TFLOP/s sustained per GPU, at most 5,000 images/s")
    assert any(line.split()[:3] == ["resnet20", "cifar10", "40.6"] for line in lines)


def test_a_run_of_several_rounds_costs_its_rounds_and_plan_shows_them(tmp_path):
    text = BASE.replace('"dense", "dpf"', '"dense", "lth"').replace('"mlp"', '"resnet20"').replace(
        '"digits"', '"cifar10"') + "[train]\nepochs = 300\n"
    cells = {(c.method, c.sparsity): c for c in expand(parse_spec(text, "my.toml"))}
    dense, lth = run_cost(cells[("dense", 0.0)]), run_cost(cells[("lth", 0.9)])
    assert cells[("lth", 0.9)].rounds == 12 and cells[("lth", 0.5)].rounds == 5  # 0.8^11 <= 0.1 < 0.8^10
    assert lth.rounds == 12 and lth.seconds == pytest.approx(12 * dense.seconds)
    path = tmp_path / "t.toml"
    path.write_text(text)
    res = invoke("plan", path, "--results", tmp_path / "none", "--tflops", "10",
                 "--max-images-per-second", "5000")
    assert res.exit_code == 0, res.output
    rows = [line for line in res.output.splitlines() if " lth " in line and "pending" in line]
    assert len(rows) == 4 and all(line.endswith("pending  (12 rounds)") for line in rows if "0.9" in line)
    assert not any("rounds" in line for line in res.output.splitlines() if " dense " in line)
    hours = 2 * 300 * (50_000 + 10_000 / 3) / 5000 / 3600 * (1 + 5 + 12)
    assert f"estimate: {hours:.2f} GPU-hours for all 6 runs" in res.output
    assert ("  trainings per run (rounds, each a whole recipe, counted above): lth s=0.5 5, lth s=0.9 12"
            in res.output.splitlines())


def test_estimate_counts_runs_shared_by_specs_once(tmp_path):
    spec = parse_spec(BASE, "my.toml")
    from suite.runner import plan

    runs = plan(spec, None)
    est = estimate([("a", runs), ("b", runs)])
    assert [s.runs for s in est.specs] == [6, 6] and est.unique_runs == 6
    assert est.gpu_hours == pytest.approx(est.specs[0].gpu_hours)


# ----- the paper's specs ------------------------------------------------------------
PAPER = {
    # spec: (cells, seeds, backend)
    "paper_cifar10_unstructured": (6 + 6 * (3 * 4 + 3 * 3), 3, "torch"),
    "paper_wrn28_2_sweep": (1 + 6 * 8, 3, "torch"),
    "paper_cifar10_structured": (3 + 3 * 3 * 3, 3, "torch"),
    "paper_imagenet_resnet50": (1 + 4 * 2, 1, "deepspeed"),
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_specs_declare_the_papers_grid(name):
    spec = load_spec(SPECS / f"{name}.toml")
    cells, seeds, backend = PAPER[name]
    assert len(expand(spec)) == cells and len(spec.seeds) == seeds and spec.backend == backend
    assert spec.references == ()  # nothing unchecked: add values only after checking them
    text = (SPECS / f"{name}.toml").read_text()
    assert "TO BE CHECKED" in text
    for cell in expand(spec):
        assert cell.method == "dense" or cell.sparsity >= 0.3
        if cell.dataset == "cifar10":
            assert cell.train.batch_size == 128
            assert cell.train.epochs == (200 if cell.model.startswith("wrn") else 300)
        else:
            assert cell.train.batch_size == 1024 and cell.train.epochs == 90


def test_paper_sparsities():
    spec = load_spec(SPECS / "paper_cifar10_unstructured.toml")
    by_model: dict[str, set[float]] = {}
    for cell in expand(spec):
        if cell.method != "dense":
            by_model.setdefault(cell.model, set()).add(cell.sparsity)
    for model in ("resnet20", "resnet32", "resnet56"):
        assert by_model[model] == {0.7, 0.8, 0.9, 0.95}
    for model in ("wrn28_2", "wrn28_4", "wrn28_8"):
        assert by_model[model] == {0.9, 0.95, 0.99}
    methods = {c.method for c in expand(spec)}
    assert methods == {"dense", "dpf", "snip", "sm", "dsr", "oneshot", "incremental"}
    sweep = load_spec(SPECS / "paper_wrn28_2_sweep.toml")
    assert min(sweep.axes["sparsity"]) == 0.5 and max(sweep.axes["sparsity"]) == 0.99
    structured = load_spec(SPECS / "paper_cifar10_structured.toml")
    assert {m: o.structure for m, o in structured.method_options.items()} == {
        "dpf": "filter", "incremental": "filter", "oneshot": "filter"}
    imagenet = load_spec(SPECS / "paper_imagenet_resnet50.toml")
    assert set(imagenet.axes["sparsity"]) == {0.8, 0.9}


def test_plan_of_the_paper_collection(tmp_path):
    res = invoke("plan", SPECS / "paper_tables.toml", "--summary", "--results", tmp_path / "none")
    assert res.exit_code == 0, res.output
    out = res.output
    for name, (cells, seeds, _) in PAPER.items():
        assert f"== {name} (" in out
        assert f"{cells} cells x {seeds} seeds = {cells * seeds} runs" in out
    # the sweep shares 19 WRN-28-2 cells with the main table, the structured table its 3
    # dense ResNets: 132 + 49 + 30 + 9 - 19 - 3 = 198 cells, 567 + 9 runs
    assert "198 cells, 576 runs in all" in out
    assert "estimate: " in out and "at 15 TFLOP/s sustained per GPU, at most 10,000 images/s" in out
    dry = invoke("run", SPECS / "paper_tables.toml", "--results", tmp_path / "none", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "DPF paper: all tables: 576 of 576 runs would run" in dry.output
    assert not (tmp_path / "none").exists()


def test_the_digits_demo_is_a_small_paper_layout():
    spec = load_spec(SPECS / "paper_digits_demo.toml")
    cells = expand(spec)
    assert len(cells) == 2 * (1 + 6 * 2) and spec.seeds == (0, 1)
    assert {c.model for c in cells} == {"mlp", "small_cnn"} and {c.dataset for c in cells} == {"digits"}


def stored_runs(db: Path, spec_name: str) -> dict[tuple[str, int], dict]:
    """The canonical cell of every finished run of a cell that a spec named ``spec_name``
    placed (any version of that spec), in a committed SQLite store, read from the file as
    it was committed (read-only; never opened by the store layer, which could migrate
    it). Cells of other specs may share the store."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        canonical = {cid: json.loads(text) for cid, text in conn.execute("SELECT id, canonical FROM cells")}
        placed = {cid for (cid,) in conn.execute(
            "SELECT DISTINCT cell_id FROM spec_cells JOIN specs ON specs.digest = spec_cells.digest "
            "WHERE specs.name = ?", (spec_name,))}
        rows = conn.execute("SELECT cell_id, seed FROM runs WHERE status = 'done'").fetchall()
    return {(cid, seed): canonical[cid] for cid, seed in rows if cid in placed}


def test_the_cifar10_cpu_spec_keeps_the_paper_shape_and_its_committed_results():
    spec = load_spec(SPECS / "cifar10_cpu.toml")
    cells = expand(spec)
    assert {c.method for c in cells} == {"dense", "dpf", "snip", "sm", "dsr", "oneshot", "incremental"}
    assert spec.seeds == (0, 1, 2) and {c.model for c in cells} == {"resnet20"}
    assert {c.sparsity for c in cells if c.method != "dense"} == {0.7, 0.9, 0.95}
    recipe = cells[0].train
    assert recipe.epochs == 5
    assert recipe.milestones == (0.5, 0.75) and recipe.warmup == pytest.approx(5 / 300)
    # docs/results was rendered from this store, which also holds an earlier, smaller
    # grid of this spec (fp32, before the spec chose precision "auto"). Every stored run
    # must be a run of a cell the spec declares now, or of an older version of one (a
    # method whose version was bumped since, or the default precision): a change of the
    # recipe, the options or the axes' values would leave stored runs outside the grid.
    store = Path(__file__).resolve().parents[2] / "docs" / "results" / "store"
    ids = {c.id for c in cells}
    precision = cells[0].precision
    assert precision == "auto"
    current = 0
    for (_, seed), canonical in stored_runs(store / "suite.db", "cifar10_cpu").items():
        version = METHODS.get(canonical["method"]).version
        assert seed in spec.seeds and canonical["method_version"] <= version
        assert canonical.get("precision", "fp32") in ("fp32", precision), canonical
        assert cell_id({**canonical, "method_version": version, "precision": precision}) in ids, canonical
        current += canonical["method_version"] == version and canonical.get("precision") == precision
    # and `suite plan` counts exactly those of the current versions as done: they are reused
    res = invoke("plan", SPECS / "cifar10_cpu.toml", "--summary", "--results", store)
    assert res.exit_code == 0, res.output
    runs = len(cells) * len(spec.seeds)
    assert f"= {runs} runs: {current} done, 0 failed" in res.output
    assert runs == 57  # the count the spec's comment gives


def test_the_modern_cpu_spec_shares_dense_and_dpf_with_cifar10_cpu_and_its_runs_are_its_cells():
    """specs/modern_cpu.toml's dense and DPF cells are cells of specs/cifar10_cpu.toml (the
    same ids, so their runs are shared), and every run the committed store holds of a
    modern_cpu cell is a run of a cell the spec declares now."""
    modern = expand(load_spec(SPECS / "modern_cpu.toml"))
    grid = {c.id for c in expand(load_spec(SPECS / "cifar10_cpu.toml"))}
    assert {c.method for c in modern} == {"dense", "dpf", "random", "set", "rigl", "granet"}
    assert {c.id for c in modern if c.method in ("dense", "dpf")} <= grid
    assert {c.train for c in modern} == {next(c for c in modern if c.method == "dense").train}
    store = Path(__file__).resolve().parents[2] / "docs" / "results" / "store"
    stored = stored_runs(store / "suite.db", "modern_cpu")
    new_methods = {canonical["method"] for canonical in stored.values()} - {"dense", "dpf"}
    assert new_methods == {"random", "set", "rigl", "granet"}
    ids = {c.id for c in modern}
    assert {cid for cid, _ in stored} <= ids
    res = invoke("plan", SPECS / "modern_cpu.toml", "--summary", "--results", store)
    assert res.exit_code == 0, res.output
    assert "= 12 runs: 12 done, 0 failed" in res.output  # docs/results/modern_cpu.md reports all 12
