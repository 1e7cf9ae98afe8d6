"""The committed reports (docs/examples, and the finished grids of docs/results) are what
the current code renders from the committed store they came from: re-rendering changes
no byte. A change that alters a report on purpose renders them again (`RUN=no
RESULTS=docs/examples/store docs/render.sh`, and with `SPECS=... OUT=docs/results` for
docs/results) in the same commit."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from suite.cli import main

ROOT = Path(__file__).resolve().parents[2]
#: Each folder of committed reports and the specs rendered into it from its store/.
#: docs/results/cifar10_cpu_48bfac5 is not here: the earlier grid's reports, kept as they
#: were rendered at that commit (SM and DSR at version 2 have other cell ids now).
COMMITTED = {"examples": ("quickstart", "paper_digits_demo"),
             "results": ("modern_cpu", "cifar10_cpu")}


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    """Copies of the committed stores (reports only read them, but a copy keeps the
    committed file untouched whatever the store layer does on opening)."""
    copies = {}
    for folder in COMMITTED:
        results = tmp_path_factory.mktemp(folder)
        with closing(sqlite3.connect(ROOT / "docs" / folder / "store" / "suite.db")) as src, \
                closing(sqlite3.connect(results / "suite.db")) as dst:
            src.backup(dst)
        copies[folder] = results
    return copies


def render(*args: str) -> str:
    res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.parametrize("folder, name", [(f, n) for f, names in COMMITTED.items() for n in names])
@pytest.mark.parametrize("args, committed", [
    (("report", "--format", "markdown"), "report.md"),
    (("report", "--format", "csv"), "report.csv"),
    *[(("export", "--table", t), f"csv/{t}.csv") for t in ("runs", "curves", "flips", "layers")],
])
def test_committed_reports_re_render_byte_identical(stores, tmp_path, folder, name, args, committed):
    out = tmp_path / Path(committed).name
    command, *rest = args
    render(command, ROOT / "specs" / f"{name}.toml", "--results", stores[folder], *rest, "--out", out)
    assert out.read_bytes() == (ROOT / "docs" / folder / name / committed).read_bytes(), (
        f"docs/{folder}/{name}/{committed} differs from what the code renders now")
