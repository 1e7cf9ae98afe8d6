"""Outside plugins through entry points: loaded lazily, and a broken one is isolated."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from suite import registry
from suite.errors import SpecError
from suite.registry import PluginError, Registry, subclass_check

ROOT = Path(__file__).resolve().parents[2]


class Base:
    pass


class Good(Base):
    pass


def _registry(monkeypatch, **values: str) -> Registry:
    eps = [EntryPoint(name, value, "suite.things") for name, value in values.items()]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps if group == "suite.things" else [])
    reg: Registry = Registry("thing", check=subclass_check(Base))
    reg.register("builtin")(Good)
    return reg


def test_a_built_in_lookup_loads_no_entry_point(monkeypatch):
    reg = _registry(monkeypatch, broken="no_such_module_xyz:Thing")
    assert reg.get("builtin") is Good and "builtin" in reg
    assert reg.broken("broken") is None  # never tried


def test_a_broken_entry_point_is_left_out_with_one_line(monkeypatch, capsys):
    reg = _registry(monkeypatch, broken="no_such_module_xyz:Thing",
                    good=f"{__name__}:Good", wrong=f"{__name__}:_registry")
    assert reg.names() == ["builtin", "good"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "suite.things entry point 'broken' (no_such_module_xyz:Thing)" in err[0]
    assert "ModuleNotFoundError" in err[0]
    assert "entry point 'wrong'" in err[1] and "not a subclass of" in err[1]
    with pytest.raises(PluginError, match="entry point 'broken'.*fix or uninstall"):
        reg.get("broken")
    reg.names()
    assert capsys.readouterr().err == ""  # said once


def test_an_entry_point_whose_import_registers_it_is_used(tmp_path, monkeypatch):
    """``plugin_net = "mod:build"`` where ``build`` is a @register_model builder."""
    from suite.models import MODELS, ModelEntry

    (tmp_path / "selfreg_plugin.py").write_text(
        "from suite.models import register_model\n\n\n"
        "@register_model('plugin_net')\ndef build(info, options):\n    \"\"\"A plugin net.\"\"\"\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(MODELS, "_items", dict(MODELS._items))
    monkeypatch.setattr(MODELS, "_pending", None)
    eps = [EntryPoint("plugin_net", "selfreg_plugin:build", "suite.models")]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps if group == "suite.models" else [])
    entry = MODELS.get("plugin_net")
    assert isinstance(entry, ModelEntry) and entry.description == "A plugin net."


def test_a_spec_naming_a_broken_plugin_says_why(monkeypatch):
    from methods import METHODS
    from suite.spec import parse_spec

    monkeypatch.setitem(METHODS._broken, "mine", "the suite.methods entry point 'mine' (x:Y) "
                        "cannot be used and is ignored: ImportError: boom")
    text = ('[suite]\nseeds = [0]\n[grid]\nmethod = ["mine"]\nmodel = ["mlp"]\n'
            'dataset = ["digits"]\nsparsity = [0.5]\n')
    with pytest.raises(SpecError, match=r"grid.method\[0\] = 'mine': the suite.methods entry point"):
        parse_spec(text, "my.toml")


def test_commands_keep_working_with_a_broken_installed_plugin(tmp_path, tiny_spec):
    """A real distribution whose entry points fail to import or load a non-Method."""
    dist = tmp_path / "site" / "brokenplugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""
        [suite.methods]
        broken = brokenplugin_missing.module:Method
        notamethod = os.path:join
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])}

    def suite(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "suite.cli", *args], capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=300)

    listed = suite("list", "methods")
    assert listed.returncode == 0, listed.stderr
    assert "dpf" in listed.stdout and "broken" not in listed.stdout
    assert "Traceback" not in listed.stderr
    lines = [ln for ln in listed.stderr.splitlines() if ln.startswith("warning:")]
    assert len(lines) == 2 and "'broken' (brokenplugin_missing.module:Method)" in lines[0]
    planned = suite("plan", str(tiny_spec), "--results", str(tmp_path / "r"))
    assert planned.returncode == 0, planned.stderr
    assert "warning" not in planned.stderr  # the spec needs only built-in plugins
    bad = tiny_spec.read_text().replace('method = ["dense"]', 'method = ["broken"]')
    (tmp_path / "bad.toml").write_text(bad)
    refused = suite("plan", str(tmp_path / "bad.toml"))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "entry point 'broken'" in refused.stderr
