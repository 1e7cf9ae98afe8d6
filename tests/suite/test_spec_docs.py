"""docs/spec.md documents every option of every built-in model, dataset and backend,
[report.labels], [[reference]] and collections: a new option fails here until documented."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from suite.collection import COLLECTION_KEYS
from suite.spec import REFERENCE_KEYS, registries

DOC = (Path(__file__).resolve().parents[2] / "docs" / "spec.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    assert match, f"docs/spec.md has no section '## {title}'"
    return match.group(1)


@pytest.mark.parametrize("kind,title", [("model", "Model options"), ("dataset", "Dataset options"),
                                        ("backend", "Backend options")])
def test_every_plugin_option_is_documented(kind, title):
    text = section(title)
    registry = registries()[kind]
    for name in registry.names():
        assert f"[{kind}.{name}]" in text, f"[{kind}.{name}] is missing from '{title}'"
        options = registry.get(name).Options
        for f in dataclasses.fields(options) if dataclasses.is_dataclass(options) else ():
            assert f"`{f.name}`" in text, f"[{kind}.{name}] {f.name} is missing from '{title}'"


def test_labels_references_and_collections_are_documented():
    assert "sm = " in section("Report labels: `[report.labels]`")
    refs = section("Published values: `[[reference]]`")
    for key in REFERENCE_KEYS:
        assert re.search(rf"^{key} = ", refs, re.M), key
    coll = section("Collections")
    for key in COLLECTION_KEYS:
        assert re.search(rf"^{key} = ", coll, re.M), key
