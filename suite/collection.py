"""Collections: one TOML file that names several specs, planned and reported together.

A spec holds one grid with one backend and one option table per method, so an
evaluation that runs the same method with two configurations (DPF unstructured and
DPF on filters) or on two backends is several specs. A collection lists them::

    [collection]
    name = "paper_tables"
    description = "The whole evaluation of the DPF paper"
    specs = ["paper_cifar10_unstructured.toml", "paper_imagenet_resnet50.toml"]

Paths are relative to the collection's file. ``suite plan`` and ``suite report`` take
a collection or a spec; :func:`load_specs` returns the specs either way.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from suite.errors import SpecError
from suite.registry import did_you_mean
from suite.spec import Spec, load_spec

COLLECTION_KEYS = ("name", "description", "specs")


@dataclass(frozen=True)
class Specs:
    """What a SPEC argument names: one spec, or the specs of a collection, in order."""

    name: str
    description: str
    specs: tuple[Spec, ...]
    path: str
    is_collection: bool = False


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the spec: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: TOML syntax error: {exc}") from None


def load_specs(path: str | Path) -> Specs:
    """The spec at ``path``, or every spec a collection file at ``path`` lists."""
    p = Path(path)
    doc = _read(p)
    if "collection" not in doc:
        spec = load_spec(p)
        return Specs(spec.name, spec.description, (spec,), str(p))
    for key in doc:
        if key != "collection":
            raise SpecError(f"{p}: unknown key {key}{did_you_mean(key, ['collection'])}; a "
                            "collection file holds only [collection] (name, description, specs)")
    table = doc["collection"]
    if not isinstance(table, dict):
        raise SpecError(f"{p}: collection must be a table ([collection]), not {table!r}")
    for key in table:
        if key not in COLLECTION_KEYS:
            raise SpecError(f"{p}: unknown key collection.{key}"
                            f"{did_you_mean(key, COLLECTION_KEYS)}; allowed keys: "
                            f"{', '.join(COLLECTION_KEYS)}")
    members = table.get("specs")
    if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
        raise SpecError(f"{p}: collection.specs = {members!r} must be a non-empty list of spec "
                        "paths, relative to this file")
    for key in ("name", "description"):
        if not isinstance(table.get(key, ""), str):
            raise SpecError(f"{p}: collection.{key} = {table[key]!r} must be a string")
    specs = []
    for i, member in enumerate(dict.fromkeys(members)):
        member_path = (p.parent / member) if not Path(member).is_absolute() else Path(member)
        if not member_path.is_file():
            raise SpecError(f"{p}: collection.specs[{i}] = {member!r}: no such file "
                            f"{member_path}")
        if "collection" in _read(member_path):
            raise SpecError(f"{p}: collection.specs[{i}] = {member!r} is itself a collection; "
                            "list its specs instead")
        specs.append(load_spec(member_path))
    names = [s.name for s in specs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise SpecError(f"{p}: collection.specs lists two specs named {dup!r}; give each its "
                        "own [suite] name")
    return Specs(table.get("name", p.stem), table.get("description", ""), tuple(specs), str(p),
                 is_collection=True)
