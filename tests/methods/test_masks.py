"""Exact mask selection: hand-computed toys, ties, and the bucket path against a full sort."""

from __future__ import annotations

from unittest.mock import patch

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from methods import masks
from methods.masks import (
    filter_masks,
    filter_norms,
    kept_count,
    magnitude_masks,
    random_masks,
    sparsity_masks,
    topk_masks,
)

T, F = True, False


def toy_weights() -> dict[str, torch.Tensor]:
    return {"a": torch.tensor([[0.5, -0.1], [0.3, -0.9]]), "b": torch.tensor([0.2, -0.7, 0.05])}


def reference(scores: dict[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    """Keep the k largest by a full stable sort (ties: earlier layer, lower index)."""
    flat = torch.cat([s.reshape(-1) for s in scores.values()])
    keep = torch.zeros(flat.numel(), dtype=torch.bool)
    keep[torch.sort(flat, descending=True, stable=True).indices[:k]] = True
    parts = keep.split([s.numel() for s in scores.values()])
    return {n: p.view(s.shape) for (n, s), p in zip(scores.items(), parts, strict=True)}


def test_kept_count_rounds_half_up():
    assert kept_count(7, 0.5) == 4
    assert kept_count(1000, 0.9) == 100
    assert kept_count(10, 0.0) == 10
    assert kept_count(3, 0.99) == 0


def test_global_magnitude_mask_by_hand():
    # |w| sorted: .9 (a), .7 (b), .5 (a), .3 (a) | .2 (b), .1 (a), .05 (b); keep 4 of 7
    got = magnitude_masks(toy_weights(), 0.5, scope="global")
    assert got["a"].tolist() == [[T, F], [T, T]]
    assert got["b"].tolist() == [F, T, F]


def test_layerwise_magnitude_mask_by_hand():
    # a keeps 2 of 4 (.9, .5); b keeps round(1.5) = 2 of 3 (.7, .2)
    got = magnitude_masks(toy_weights(), 0.5, scope="layer")
    assert got["a"].tolist() == [[T, F], [F, T]]
    assert got["b"].tolist() == [T, T, F]


def test_ties_break_by_layer_then_index():
    scores = {"a": torch.ones(3), "b": torch.ones(2)}
    assert topk_masks(scores, 4)["a"].tolist() == [T, T, T]
    assert topk_masks(scores, 4)["b"].tolist() == [T, F]
    assert topk_masks({"a": torch.tensor([2.0, 1.0, 1.0, 1.0])}, 2)["a"].tolist() == [T, T, F, F]


def test_extremes_keep_all_or_nothing():
    w = toy_weights()
    assert all(m.all() for m in magnitude_masks(w, 0.0).values())
    assert not any(m.any() for m in topk_masks(w, 0).values())


@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.99])
def test_bucket_path_matches_full_sort_on_large_vectors(sparsity):
    gen = torch.Generator().manual_seed(1)
    weights = {f"l{i}": torch.randn(shape, generator=gen) * (i + 1)
               for i, shape in enumerate([(64, 32, 3, 3), (256, 128), (10, 256), (5000,)])}
    k = kept_count(sum(w.numel() for w in weights.values()), sparsity)
    assert sum(w.numel() for w in weights.values()) >= masks.SORT_BELOW
    got = magnitude_masks(weights, sparsity)
    want = reference({n: w.abs() for n, w in weights.items()}, k)
    assert all(torch.equal(got[n], want[n]) for n in weights)
    assert sum(int(m.sum()) for m in got.values()) == k


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 400), min_size=1, max_size=5),
       levels=st.integers(1, 6), seed=st.integers(0, 10_000), frac=st.floats(0, 1),
       sample=st.sampled_from([4, 64, 1 << 16]))
def test_bucket_path_is_exact_with_ties(sizes, levels, seed, frac, sample):
    gen = torch.Generator().manual_seed(seed)
    scores = {f"l{i}": torch.randint(0, levels, (n,), generator=gen).float() - levels / 2
              for i, n in enumerate(sizes)}
    k = round(frac * sum(sizes))
    with patch.object(masks, "SORT_BELOW", 0), patch.object(masks, "SAMPLE_SIZE", sample):
        got = topk_masks(scores, k)
        got_abs = topk_masks(scores, k, magnitude=True)
    want = reference(scores, k)
    want_abs = reference({n: s.abs() for n, s in scores.items()}, k)
    assert all(torch.equal(got[n], want[n]) and torch.equal(got_abs[n], want_abs[n]) for n in scores)


def test_missed_bracket_widens_and_stays_exact():
    # The strided sample sees only zeros; the first brackets miss, the last covers all.
    scores = torch.zeros(4096)
    scores[torch.arange(4096) % 64 != 0] = torch.linspace(1, 2, 4032)
    with patch.object(masks, "SORT_BELOW", 0), patch.object(masks, "SAMPLE_SIZE", 64):
        got = topk_masks({"x": scores}, 100)["x"]
    assert torch.equal(got, reference({"x": scores}, 100)["x"])


def test_nan_scores_are_an_error():
    scores = torch.full((100_000,), float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        topk_masks({"x": scores}, 10)


def test_sparsity_masks_rejects_unknown_scope():
    with pytest.raises(ValueError, match="scope"):
        sparsity_masks(toy_weights(), 0.5, scope="row")  # type: ignore[arg-type]


def test_filter_masks_layerwise_and_global():
    # conv-like a: 4 filters of 2x1 weights; linear-like b: 2 rows of 3 weights
    w = {"a": torch.tensor([[[3.0], [4.0]], [[0.1], [0.1]], [[1.0], [0.0]], [[0.0], [2.0]]]),
         "b": torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.1, 0.0]])}
    norms = filter_norms(w)
    assert norms["a"].tolist() == pytest.approx([5.0, 0.1414213, 1.0, 2.0])
    shapes = {n: t.shape for n, t in w.items()}
    layer = filter_masks(norms, shapes, 0.5, scope="layer")
    assert layer["a"][:, 0, 0].tolist() == [T, F, F, T]
    assert layer["b"].tolist() == [[T, T, T], [F, F, F]]
    # global ranking 5 (a0), 2 (a3), 1.73 (b0), 1 (a2), ...; 14 weights, keep 7:
    # prefixes keep 2, 4, 7 weights -> three filters, exactly 7 kept
    glob = filter_masks(norms, shapes, 0.5, scope="global")
    assert glob["a"][:, 0, 0].tolist() == [T, F, F, T]
    assert glob["b"][:, 0].tolist() == [T, F]
    assert sum(int(m.sum()) for m in glob.values()) == 7


def test_random_masks_exact_counts_and_seeded():
    shapes = {"a": torch.Size([10, 10]), "b": torch.Size([50_000])}
    counts = {"a": 37, "b": 12_345}
    one = random_masks(shapes, counts, torch.Generator().manual_seed(3))
    two = random_masks(shapes, counts, torch.Generator().manual_seed(3))
    other = random_masks(shapes, counts, torch.Generator().manual_seed(4))
    assert {n: int(m.sum()) for n, m in one.items()} == counts
    assert all(torch.equal(one[n], two[n]) for n in shapes)
    assert not torch.equal(one["b"], other["b"])
