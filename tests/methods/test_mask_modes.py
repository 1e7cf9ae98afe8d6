"""Mask modes are objects named by a string: a method may give either, and an unknown
name is refused with the known ones."""

from __future__ import annotations

import pytest

from methods import METHODS, Method
from methods.mask_modes import FEEDBACK, HARD, MODES, NONE, as_mask_mode


def test_a_mode_is_named_and_a_name_stands_for_its_mode():
    assert [m.name for m in (NONE, HARD, FEEDBACK)] == ["none", "hard", "feedback"] == list(MODES)
    assert as_mask_mode("feedback") is FEEDBACK and as_mask_mode(HARD) is HARD
    assert f"{HARD}" == "hard"

    class Named(Method):
        mask_mode = "feedback"

    assert Named.mask_mode is FEEDBACK


def test_an_unknown_mode_lists_the_known_ones():
    with pytest.raises(ValueError, match="mask_mode = 'soft' is not a mask mode; use one of 'none', 'hard'"):
        class Soft(Method):
            mask_mode = "soft"


def test_registered_methods_declare_their_modes():
    modes = {name: METHODS.get(name).mask_mode for name in METHODS.names()}
    assert modes["dense"] is NONE and modes["dpf"] is FEEDBACK and modes["sm"] is HARD
    assert METHODS.get("snip").zeroes_pruned_gradients()
    assert not METHODS.get("sm").zeroes_pruned_gradients()  # dense gradients: regrowth by momentum
    assert not METHODS.get("dpf").zeroes_pruned_gradients()
