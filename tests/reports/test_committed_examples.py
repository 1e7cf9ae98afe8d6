"""The committed example reports (docs/examples) are what the current code renders from
the committed store they came from: re-rendering changes no byte. A change that alters
a report on purpose renders them again (`RUN=no RESULTS=docs/examples/store
docs/render.sh`) in the same commit."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from suite.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A copy of the committed store (reports only read it, but the copy keeps the
    committed file untouched whatever the store layer does on opening)."""
    results = tmp_path_factory.mktemp("examples")
    with closing(sqlite3.connect(EXAMPLES / "store" / "suite.db")) as src, \
            closing(sqlite3.connect(results / "suite.db")) as dst:
        src.backup(dst)
    return results


def render(*args: str) -> str:
    res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.parametrize("name", ["quickstart", "paper_digits_demo"])
@pytest.mark.parametrize("args, committed", [
    (("report", "--format", "markdown"), "report.md"),
    (("report", "--format", "csv"), "report.csv"),
    *[(("export", "--table", t), f"csv/{t}.csv") for t in ("runs", "curves", "flips", "layers")],
])
def test_committed_examples_re_render_byte_identical(store, tmp_path, name, args, committed):
    out = tmp_path / Path(committed).name
    command, *rest = args
    render(command, ROOT / "specs" / f"{name}.toml", "--results", store, *rest, "--out", out)
    assert out.read_bytes() == (EXAMPLES / name / committed).read_bytes(), (
        f"docs/examples/{name}/{committed} differs from what the code renders now")
