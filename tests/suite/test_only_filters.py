"""--only on run, plan, report and export: unknown values name the grid's, with a did-you-mean."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from small_specs import TWO_METHODS

from suite.cli import main

SPEC = TWO_METHODS


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("only")
    spec = root / "two.toml"
    spec.write_text(SPEC)
    res = invoke("run", spec, "--results", root / "results")
    assert res.exit_code == 0, res.output
    return spec, root / "results"


@pytest.mark.parametrize("command", ["run", "plan", "report", "export"])
def test_a_misspelt_value_names_the_allowed_ones(stored, command):
    spec, results = stored
    res = invoke(command, spec, "--results", results, "--only", "method=densee")
    assert res.exit_code == 2
    assert "--only method=densee" in res.output and 'did you mean "dense"' in res.output
    assert "its method values: dense, dpf" in res.output


def test_sparsity_and_seed_values_are_listed(stored):
    spec, results = stored
    res = invoke("plan", spec, "--results", results, "--only", "sparsity=0.9")
    assert res.exit_code == 2 and "its sparsity values: 0, 0.5" in res.output
    res = invoke("report", spec, "--results", results, "--only", "seed=3")
    assert res.exit_code == 2 and "its seed values: 0" in res.output


def test_report_and_export_keep_only_matching_runs(stored):
    spec, results = stored
    rep = invoke("report", spec, "--results", results, "--format", "csv", "--only", "method=dpf")
    assert rep.exit_code == 0, rep.output
    assert ",dpf," in rep.output and ",dense," not in rep.output
    exp = invoke("export", spec, "--results", results, "--only", "method=dense")
    assert exp.exit_code == 0, exp.output
    rows = exp.output.strip().splitlines()[1:]
    assert len(rows) == 1 and ",dense," in rows[0]
    everything = invoke("export", "--results", results, "--table", "curves", "--only", "method=dpf")
    assert everything.exit_code == 0 and all(",dpf," in r for r in everything.output.splitlines()[1:])


def test_a_combination_that_matches_nothing_is_refused(stored):
    spec, results = stored
    res = invoke("report", spec, "--results", results, "--only", "method=dense",
                 "--only", "sparsity=0.5")
    assert res.exit_code == 2 and "matches no run" in res.output
