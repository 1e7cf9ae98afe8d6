"""Packaging: the lowest-versions env (`tox -e min`) pins exactly the lower bounds that
pyproject.toml declares, so that a bound that moves cannot leave that env behind; and an
installed copy holds every module of the source tree, so that a new subpackage cannot be
left out of a non-editable install (what tox and `pip install .` make)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
#: extras whose range the `min` env does not install (the `deepspeed` env tests that one)
NOT_IN_MIN = {"deepspeed"}
#: the import packages the distribution ships
TOP_PACKAGES = ("suite", "methods", "backends", "reports")
#: files shipped as package data of a parent package rather than as packages of their own
DATA_DIRS = ("suite/store/migrations", "reports/templates")


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


def source_files(suffixes=(".py", ".j2")) -> set[str]:
    """Paths, relative to the repository root, of the modules and templates in the source tree."""
    found = set()
    for top in TOP_PACKAGES:
        for path in (ROOT / top).rglob("*"):
            if path.suffix in suffixes and "__pycache__" not in path.parts:
                found.add(path.relative_to(ROOT).as_posix())
    return found


def test_every_directory_of_modules_is_a_package_or_declared_package_data():
    # pyproject.toml finds packages with namespaces = false: a directory of modules without
    # an __init__.py would be left out of the install without a word
    for module in source_files((".py",)):
        parent = module.rsplit("/", 1)[0]
        if parent.startswith(DATA_DIRS):
            continue
        assert (ROOT / parent / "__init__.py").is_file(), (
            f"{parent}/ holds {module} but no __init__.py: it would not be installed; add one, "
            "or ship it as package data in pyproject.toml and list it in DATA_DIRS")


def test_an_installed_copy_holds_every_module_of_the_source_tree():
    import suite

    site = Path(suite.__file__).resolve().parents[1]
    if site == ROOT:
        pytest.skip("suite is imported from the source tree (an editable install); "
                    "tox installs a built copy, where this test runs")
    missing = sorted(f for f in source_files() if not (site / f).is_file())
    assert not missing, f"not in the installed copy at {site}: {missing}"
