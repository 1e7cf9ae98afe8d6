"""Grid expansion and cell ids."""

from __future__ import annotations

import pytest

from methods import METHODS
from methods.base import Method
from suite.grid import cell_id, expand
from suite.spec import parse_spec


class Toy(Method):
    """A method with a sparsity axis, registered only inside these tests."""

    name = "toy"


@pytest.fixture(autouse=True)
def toy_method(monkeypatch):
    monkeypatch.setitem(METHODS._items, "toy", Toy)


GRID = """
[suite]
seeds = [0, 1]
[grid]
method = ["dense", "toy"]
model = ["mlp", "small_cnn"]
dataset = ["digits"]
sparsity = [0.5, 0.9]
"""


def test_product_with_dense_collapsed_over_sparsity():
    cells = expand(parse_spec(GRID))
    got = [(c.model, c.method, c.sparsity) for c in cells]
    assert got == [
        ("mlp", "dense", 0.0), ("mlp", "toy", 0.5), ("mlp", "toy", 0.9),
        ("small_cnn", "dense", 0.0), ("small_cnn", "toy", 0.5), ("small_cnn", "toy", 0.9),
    ]


def test_ids_are_pinned():
    """Regression: these literals change only when the canonical cell format changes."""
    ids = {(c.model, c.method, c.sparsity): c.id for c in expand(parse_spec(GRID))}
    assert ids == {
        ("mlp", "dense", 0.0): "f4dfe9e379bb",
        ("small_cnn", "dense", 0.0): "27dd9e8394c6",
        ("mlp", "toy", 0.5): "bc59d346c650",
        ("mlp", "toy", 0.9): "23731c7685d1",
        ("small_cnn", "toy", 0.5): "49047969c241",
        ("small_cnn", "toy", 0.9): "08ea09714bde",
    }
    assert cell_id({"sparsity": 0.9, "method": "toy"}) == "c4199d4ccd9f"
    with_recipe = expand(parse_spec(GRID + "[train]\nepochs = 3\nlr = 1\n"))
    assert [c.id for c in with_recipe if c.method == "dense"] == ["720a57fb8086", "5a2384bfd9a9"]


def test_id_independent_of_key_order_and_number_spelling():
    a = parse_spec(GRID + "[train]\nlr = 1\nepochs = 3\n[model.mlp]\nhidden = [8]\n")
    b = parse_spec(GRID.replace('model = ["mlp", "small_cnn"]\n', "") .replace(
        "[grid]", '[grid]\nmodel = ["mlp", "small_cnn"]') +
        "[model.mlp]\nhidden = [8.0]\n[train]\nepochs = 3.0\nlr = 1.0\n")
    assert [c.id for c in expand(a)] == [c.id for c in expand(b)]


def test_default_valued_fields_do_not_change_ids():
    plain = expand(parse_spec(GRID))
    explicit = expand(parse_spec(GRID + "[train]\nepochs = 10\nnesterov = true\n"))
    assert [c.id for c in plain] == [c.id for c in explicit]


def test_seed_and_execution_knobs_not_in_id():
    plain = expand(parse_spec(GRID))
    other = expand(parse_spec(GRID.replace("seeds = [0, 1]", "seeds = [7]") +
                              '[backend.torch]\ndevice = "cpu"\nthreads = 1\n'))
    assert [c.id for c in plain] == [c.id for c in other]


def test_recipe_and_version_change_ids():
    base = {c.id for c in expand(parse_spec(GRID))}
    assert base.isdisjoint(c.id for c in expand(parse_spec(GRID + "[train]\nlr = 0.2\n")))
    Toy.version = 2
    try:
        bumped = {c.id for c in expand(parse_spec(GRID)) if c.method == "toy"}
    finally:
        Toy.version = 1
    assert bumped.isdisjoint(base)


def test_exclude_and_include():
    text = GRID + """
[[grid.exclude]]
model = "small_cnn"
sparsity = [0.9]
[[grid.exclude]]
method = "dense"
model = "mlp"
[[grid.include]]
method = "toy"
model = "mlp"
sparsity = 0.95
"""
    got = [(c.model, c.method, c.sparsity) for c in expand(parse_spec(text))]
    assert got == [
        ("mlp", "toy", 0.5), ("mlp", "toy", 0.9), ("mlp", "toy", 0.95),
        ("small_cnn", "dense", 0.0), ("small_cnn", "toy", 0.5),
    ]


def test_include_duplicates_are_merged():
    text = GRID + '[[grid.include]]\nmethod = "toy"\nsparsity = [0.5]\n'
    assert len(expand(parse_spec(text))) == 6
