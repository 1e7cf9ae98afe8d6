"""The lowest-versions env (`tox -e min`) pins exactly the lower bounds that
pyproject.toml declares, so that a bound that moves cannot leave that env behind."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
#: extras whose range the `min` env does not install (the `deepspeed` env tests that one)
NOT_IN_MIN = {"deepspeed"}


def declared_lower_bounds() -> dict[str, Version]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra, deps in project["optional-dependencies"].items():
        if extra not in NOT_IN_MIN:
            reqs += deps
    bounds = {}
    for req in map(Requirement, reqs):
        lows = [Version(s.version) for s in req.specifier if s.operator == ">="]
        assert len(lows) == 1, f"{req}: every dependency declares one lower bound (>=)"
        bounds[canonicalize_name(req.name)] = lows[0]
        if canonicalize_name(req.name) == "psycopg" and "binary" in req.extras:
            bounds["psycopg-binary"] = lows[0]  # psycopg[binary] X pins psycopg-binary X
    return bounds


def min_pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / ".ci" / "constraints-min.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints-min.txt: {line!r} is not NAME==VERSION"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_min_constraints_pin_every_declared_lower_bound_and_nothing_else():
    assert min_pins() == declared_lower_bounds()
