"""`suite report` without a spec: the specs a store has run, a spec edited without
changing its grid once, at its newest text."""

from __future__ import annotations

from click.testing import CliRunner

from suite.cli import main
from suite.grid import expand
from suite.report import stored_specs
from suite.spec import parse_spec
from suite.store import Store


def recorded(store: Store, text: str) -> None:
    spec = parse_spec(text)
    store.record_spec(spec, expand(spec))


def test_an_edit_that_keeps_the_grid_is_one_spec_and_a_new_grid_another(tmp_path, tiny_spec_text):
    store = Store(tmp_path / "results")
    commented = "# the same grid, commented\n" + tiny_spec_text
    retitled = tiny_spec_text + '[report]\ntitle = "Tiny, retitled"\n'
    three_seeds = tiny_spec_text.replace("seeds = [0, 1]", "seeds = [0, 1, 2]")
    for text in (tiny_spec_text, commented, three_seeds, retitled):
        recorded(store, text)
    specs = stored_specs(store)
    assert [(s.name, s.seeds, s.text) for s in specs] == [
        ("tiny", (0, 1, 2), three_seeds),
        ("tiny", (0, 1), retitled)]  # the newest text of the first grid
    store.close()

    result = CliRunner().invoke(main, ["report", "--results", str(tmp_path / "results"),
                                       "--format", "markdown"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    titles = [line for line in result.output.splitlines() if line.startswith("## ")]
    assert titles == ["## tiny", "## Tiny, retitled"]
