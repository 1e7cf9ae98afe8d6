"""Sweep axes over option paths: expansion, ids, validation, --only and the report layout."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from small_specs import TWO_METHODS

from suite import filters
from suite.cli import main
from suite.errors import SpecError
from suite.grid import expand
from suite.runner import plan
from suite.spec import parse_spec
from suite.sweeps import normal_text, value_text


def swept(*lines: str, spec: str = TWO_METHODS) -> str:
    return spec.replace("sparsity = [0.5]", "sparsity = [0.5]\n" + "\n".join(lines), 1)


SWEPT = swept('"train.lr" = [0.05, 0.1]', '"method.dpf.reprune_every" = [4, 16]')


def test_a_method_option_multiplies_that_methods_cells_only():
    cells = expand(parse_spec(SWEPT))
    assert [(c.method, c.train.lr, getattr(c.method_options, "reprune_every", None)) for c in cells] == [
        ("dense", 0.05, None), ("dense", 0.1, None),
        ("dpf", 0.05, 4), ("dpf", 0.05, 16), ("dpf", 0.1, 4), ("dpf", 0.1, 16)]


def test_a_value_equal_to_the_default_keeps_the_id_of_the_unswept_cell(tiny_spec_text):
    plain = {c.method: c.id for c in expand(parse_spec(TWO_METHODS))}
    cells = expand(parse_spec(SWEPT))
    at_defaults = {c.id for c in cells
                   if c.train.lr == 0.1 and getattr(c.method_options, "reprune_every", 16) == 16}
    assert at_defaults == set(plain.values())
    assert len({c.id for c in cells}) == 6
    # the pinned id of the tiny spec (lr 0.05 there) survives a sweep that includes it
    tiny = tiny_spec_text.replace('sparsity = [0.5]', 'sparsity = [0.5]\n"train.lr" = [0.05, 0.2]')
    assert [c.id for c in expand(parse_spec(tiny))][0] == "b84a1bf5b404"


def test_model_and_dataset_options_sweep_too():
    spec = parse_spec(swept('"model.mlp.hidden" = [[16], [8, 8]]', '"dataset.synthetic.noise" = [0.1, 0.5]'))
    cells = expand(spec)
    assert len(cells) == 2 * 2 * 2
    assert {c.model_options.hidden for c in cells} == {(16,), (8, 8)}
    assert {c.dataset_options.noise for c in cells} == {0.1, 0.5}


@pytest.mark.parametrize(("line", "message"), [
    ('"train.lrr" = [0.1]', "[train] has no option 'lrr' (did you mean \"lr\"?)"),
    ('"train.lr" = [-1.0]', 'grid."train.lr"[0]: lr = -1.0 must be positive'),
    ('"train.lr" = ["fast"]', "grid.\"train.lr\"[0] = 'fast' has the wrong type; expected a number"),
    ('"train.lr" = 0.1', 'must be a list of values'),
    ('"train.lr" = []', 'is empty'),
    ('"method.sm.prune_rate" = [0.2]', "method 'sm' is not in grid.method (dense, dpf)"),
    ('"method.dfp.reprune_every" = [4]', "not a known method (did you mean \"dpf\"?)"),
    ('"method.dpf" = [4]', "a method option is method.<name>.<field>"),
    ('"optim.lr" = [0.1]', "is not an option path"),
    ('"backend.torch.threads" = [1]', "is not an option path"),
    ('"method.dpf.reprune_every" = [0]', 'grid."method.dpf.reprune_every"[0]'),
    ('"model.mlp.checkpoint_sha256" = ["ab"]', "model 'mlp' has no option 'checkpoint_sha256'"),
    ('"model.mlp.checkpoint" = ["a.pt"]', "is not part of a cell's identity"),
])
def test_bad_sweeps_name_the_path_the_value_and_what_is_allowed(line, message):
    with pytest.raises(SpecError) as err:
        parse_spec(swept(line))
    assert message in str(err.value)


def test_options_outside_the_identity_cannot_be_swept():
    spec = TWO_METHODS.replace('dataset = ["synthetic"]', 'dataset = ["cifar10"]').replace(
        "[dataset.synthetic]\ntrain_size = 128\ntest_size = 64\n", "")
    with pytest.raises(SpecError, match="is not part of a cell's identity"):
        parse_spec(swept('"dataset.cifar10.root" = ["a", "b"]', spec=spec))


def test_unknown_grid_keys_mention_option_paths():
    message = r"unknown key grid.sparsities \(did you mean \"sparsity\"\?\).*option paths"
    with pytest.raises(SpecError, match=message):
        parse_spec(TWO_METHODS.replace("sparsity = [0.5]", "sparsity = [0.5]\nsparsities = [0.1]"))


def test_value_texts_compare_as_typed():
    assert [value_text(v) for v in (0.1, 4, True, "A", (8, 8))] == ["0.1", "4", "true", "A", "[8, 8]"]
    assert normal_text("0.10") == normal_text("1e-1") == "0.1"
    assert normal_text("B") == "B" and normal_text("[8,8]") == "[8, 8]"


def test_only_an_option_path_on_plan_and_on_tables():
    spec = parse_spec(SWEPT)
    chosen = plan(spec, None, ["train.lr=0.10", "method=dpf"])
    values = sorted((r.cell.train.lr, r.cell.method_options.reprune_every) for r in chosen)
    assert values == [(0.1, 4), (0.1, 16)]
    parsed = filters.check([spec], ["method.dpf.reprune_every=4"], "s.toml")
    fours = {c.id for c in expand(spec) if getattr(c.method_options, "reprune_every", 0) == 4}
    assert parsed == {"id": fours}
    with pytest.raises(SpecError, match="no cell of s.toml has train.lr '0.3'.*values: 0.05, 0.1"):
        filters.check([spec], ["train.lr=0.3"], "s.toml")
    with pytest.raises(SpecError, match="has the option 'train.lrr'"):
        filters.check([spec], ["train.lrr=1"], "s.toml")


def test_default_layout_rows_for_shared_options_columns_for_a_methods_own():
    layout = parse_spec(SWEPT).report
    assert layout.rows == ("dataset", "model", "sparsity", "train.lr")
    assert layout.columns == ("method.dpf.reprune_every",)
    moved = parse_spec(SWEPT + '[report]\nrows = ["model", "sparsity"]\ncolumns = ["train.lr", '
                       '"method.dpf.reprune_every"]\n').report
    assert moved.columns == ("train.lr", "method.dpf.reprune_every")


@pytest.mark.parametrize(("table", "message"), [
    ('rows = ["model", "sparsity"]', "leave out the swept 'train.lr'"),
    ('rows = ["model", "train.lr", "method.dpf.reprune_every"]\ncolumns = []',
     "is an option of one method; it can only split that method's column"),
    ('columns = ["model"]', "report.columns[0] = 'model' is not allowed"),
    ('rows = ["model", "train.lr", "train.epochs"]', "'train.epochs' is not a swept option path"),
    ('rows = ["model", "sparsity", "train.lr"]\ncolumns = ["train.lr", "method.dpf.reprune_every"]',
     "'train.lr' is in both rows and columns"),
])
def test_bad_report_layouts_of_swept_specs(table, message):
    with pytest.raises(SpecError) as err:
        parse_spec(SWEPT + "[report]\n" + table + "\n")
    assert message in str(err.value)


def test_a_swept_grid_end_to_end(tmp_path):
    spec = tmp_path / "sw.toml"
    spec.write_text(SWEPT)
    results = tmp_path / "results"
    runner = CliRunner()
    res = runner.invoke(main, ["run", str(spec), "--results", str(results)], catch_exceptions=False)
    assert res.exit_code == 0 and "6 runs done, 0 failed" in res.output, res.output
    md = runner.invoke(main, ["report", str(spec), "--results", str(results), "--format", "markdown"])
    assert md.exit_code == 0, md.output
    header = next(line for line in md.output.splitlines() if line.startswith("| dataset"))
    assert header == ("| dataset | model | sparsity | train.lr | Dense | DPF (reprune_every 4) | "
                      "DPF (reprune_every 16) | ")
    rows = [line.split(" | ")[3] for line in md.output.splitlines() if line.startswith("| synthetic")]
    assert rows == ["0.05", "0.1"]
    csv = runner.invoke(main, ["export", str(spec), "--results", str(results), "--table", "runs",
                               "--only", "method.dpf.reprune_every=4"])
    lines = csv.output.splitlines()
    assert lines[0].startswith("spec,cell_id,method,model,dataset,sparsity,train.lr,"
                               "method.dpf.reprune_every,seed,")
    assert [line.split(",")[6:8] for line in lines[1:]] == [["0.05", "4"], ["0.1", "4"]]
    tex = runner.invoke(main, ["report", str(spec), "--results", str(results), "--format", "latex"])
    assert "Model & lr & Dense & Target sparsity & DPF (reprune\\_every 4)" in tex.output


def test_exclude_rules_may_name_swept_options():
    spec = parse_spec(swept('"train.lr" = [0.05, 0.1, 0.2]', '"method.dpf.reprune_every" = [4, 16]',
                            '[[grid.exclude]]', 'method = "dense"', '"train.lr" = [0.05, 0.2]',
                            '[[grid.exclude]]', '"method.dpf.reprune_every" = 4', '"train.lr" = 0.2'))
    cells = [(c.method, c.train.lr, getattr(c.method_options, "reprune_every", None)) for c in expand(spec)]
    assert cells == [("dense", 0.1, None), ("dpf", 0.05, 4), ("dpf", 0.05, 16), ("dpf", 0.1, 4),
                     ("dpf", 0.1, 16), ("dpf", 0.2, 16)]


@pytest.mark.parametrize(("rule", "message"), [
    ('[[grid.exclude]]\n"train.epochs" = [1]', "unknown key grid.exclude[0].train.epochs"),
    ('[[grid.include]]\nmethod = "dpf"\n"train.lr" = [0.2]', "include rules name the four axes only"),
    ('[[grid.exclude]]\n"train.lr" = ["x"]', "grid.exclude[0].\"train.lr\"[0] = 'x' has the wrong type"),
])
def test_bad_rules_with_option_paths(rule, message):
    with pytest.raises(SpecError) as err:
        parse_spec(swept('"train.lr" = [0.05, 0.1]', rule))
    assert message in str(err.value)
