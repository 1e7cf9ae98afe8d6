"""Labels outside Latin-1 (a ✂, a CJK name) in LaTeX reports that pdflatex compiles."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from suite.latex import escape_char, latex_escape
from suite.report import report
from suite.spec import parse_spec

PDFLATEX = shutil.which("pdflatex")

SPEC = """
[suite]
name = "unicode ✂"
description = "Labels in every script: ✂ and 小模型, α = 0.5 … “quoted”"
seeds = [0]
[grid]
method = ["dense", "dpf"]
model = ["mlp"]
dataset = ["digits"]
sparsity = [0.9]
[report]
title = "剪枝 ✂ table"
[report.labels]
dpf = "DPF ✂"
mlp = "小模型"
digits = "Ziffern é"
"""

WRAPPER = r"""\documentclass{article}
\usepackage{booktabs}
\usepackage{graphicx}
\begin{document}
\input{tables.tex}
\end{document}
"""


def test_escaping_of_characters_outside_latin1():
    assert latex_escape("a_b ✂") == r"a\_b \suiteunicode{✂}{2702}"
    assert escape_char("小") == r"\suiteunicode{小}{5C0F}"
    assert escape_char("α") == r"$\alpha$" and escape_char("Ω") == r"$\Omega$"
    assert escape_char("Α") == r"\suiteunicode{Α}{0391}"  # no \Alpha in LaTeX
    assert escape_char("é") == "é" and escape_char("…") == r"\ldots{}"


def _pdflatex(tex: Path) -> str:
    proc = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", tex.name],
                          cwd=tex.parent, capture_output=True, text=True, timeout=180)
    log = tex.with_suffix(".log").read_text(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    for problem in ("LaTeX Error", "Undefined control sequence", "not set up for use with LaTeX",
                    "Missing character"):
        assert problem not in log, problem
    return log


@pytest.mark.skipif(PDFLATEX is None, reason="pdflatex is not installed (Debian: texlive-latex-base)")
@pytest.mark.parametrize("standalone", [True, False])
def test_pdflatex_compiles_scissors_and_cjk_labels(tmp_path, standalone):
    text = report([parse_spec(SPEC, "u.toml")], None, "latex", standalone=standalone)
    assert r"\suiteunicode{✂}{2702}" in text and r"\suiteunicode{小}{5C0F}" in text
    name = "report.tex" if standalone else "tables.tex"
    (tmp_path / name).write_text(text, encoding="utf-8")
    if not standalone:
        (tmp_path / "report.tex").write_text(WRAPPER)
    _pdflatex(tmp_path / "report.tex")
