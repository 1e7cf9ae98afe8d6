"""The Python API: the DataFrames of `suite export` and `suite report --format csv`."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from click.testing import CliRunner
from small_specs import TWO_METHODS

from suite.api import open_results
from suite.cli import main
from suite.errors import SpecError, SuiteError


def invoke(*args):
    res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


SPEC = TWO_METHODS


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    spec = root / "two.toml"
    spec.write_text(SPEC)
    invoke("run", spec, "--results", root / "results")
    return spec, root / "results"


def test_runs_and_summary_are_the_cli_tables(stored):
    spec, results = stored
    res = open_results(spec, results=results)
    runs = res.runs()
    assert list(runs["method"]) == ["dense", "dpf"] and set(runs["status"]) == {"done"}
    assert runs["top1"].dtype.kind == "f"
    exported = pd.read_csv(io.StringIO(invoke("export", spec, "--results", results)))
    assert list(exported.columns) == list(runs.columns) and exported["top1"].tolist() == runs["top1"].tolist()
    summary = res.summary()
    csv = pd.read_csv(io.StringIO(invoke("report", spec, "--results", results, "--format", "csv")))
    pd.testing.assert_frame_equal(summary, csv)
    assert set(summary["method"]) == {"dense", "dpf"} and (summary["n"] == 1).all()


def test_filters_tables_reports_and_the_whole_store(stored):
    spec, results = stored
    res = open_results(spec, results=results)
    assert list(res.runs(only=["method=dpf"])["method"]) == ["dpf"]
    assert set(res.table("curves")["method"]) == {"dense", "dpf"}
    assert "| Dense | DPF |" in res.report("markdown")
    with pytest.raises(SpecError, match='did you mean "dense"'):
        res.runs(only=["method=densee"])
    with pytest.raises(SuiteError, match="known tables"):
        res.table("epochs")
    everything = open_results(results=results)
    assert len(everything.runs()) == 2 and everything.specs[0].name == "two"
