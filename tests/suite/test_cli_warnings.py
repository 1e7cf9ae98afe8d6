"""Warnings reach the terminal as one 'warning:' line, without a source location."""

from __future__ import annotations

import subprocess
import sys


def test_plan_of_a_spec_whose_excludes_remove_everything_warns(tmp_path, tiny_spec_text):
    spec = tmp_path / "empty.toml"
    spec.write_text(tiny_spec_text + '\n[[grid.exclude]]\nmethod = "dense"\n')
    proc = subprocess.run([sys.executable, "-m", "suite.cli", "plan", str(spec), "--results",
                           str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith(f"warning: {spec}: grid.exclude[0] removes every cell")
    assert "SpecWarning" not in proc.stderr and "warnings.warn" not in proc.stderr
    assert "0 cells" in proc.stdout
