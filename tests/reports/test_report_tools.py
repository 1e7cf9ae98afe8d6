"""The reports in the tools that consume them: pdflatex compiles the LaTeX, headless
Chromium renders the HTML (checked on the screenshot, not only the markup).

CI installs both (Debian: texlive-latex-base, texlive-latex-recommended,
texlive-fonts-recommended, chromium); where one is missing its test is skipped with
the reason.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from suite.cli import main

PDFLATEX = shutil.which("pdflatex")
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)

WRAPPER = r"""\documentclass{article}
\usepackage{booktabs}
\usepackage{graphicx}
\begin{document}
\input{tables.tex}
\end{document}
"""


def invoke(*args):
    res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res


def pdflatex(tex: Path) -> str:
    proc = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", tex.name],
                          cwd=tex.parent, capture_output=True, text=True, timeout=180)
    log = tex.with_suffix(".log").read_text(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert tex.with_suffix(".pdf").stat().st_size > 10_000
    for problem in ("LaTeX Error", "Undefined control sequence", "Missing character",
                    "not set up for use with LaTeX", "File `"):
        assert problem not in log, problem
    return log


@pytest.mark.skipif(PDFLATEX is None, reason="pdflatex is not installed (Debian: texlive-latex-base "
                    "texlive-latex-recommended texlive-fonts-recommended)")
def test_latex_fragment_and_standalone_document_compile(paper_store, tmp_path):
    spec_path, results = paper_store
    paper = tmp_path / "paper"
    invoke("report", spec_path, "--results", results, "--format", "latex",
           "--out", paper / "tables.tex", "--figures", paper / "figures")
    (paper / "main.tex").write_text(WRAPPER)
    log = pdflatex(paper / "main.tex")
    assert "figures/paper-like-cifar10-resnet20-accuracy.pdf" in log  # the figures went in

    alone = tmp_path / "alone"
    invoke("report", spec_path, "--results", results, "--format", "latex", "--standalone",
           "--out", alone / "report.tex")
    pdflatex(alone / "report.tex")


def _screenshot(html: Path, png: Path, profile: Path, size: tuple[int, int]) -> None:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars",
           "--force-device-scale-factor=1", f"--window-size={size[0]},{size[1]}",
           f"--screenshot={png}", html.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert png.exists(), proc.stderr[-3000:]


def _near(pixels, color: str, tol: int = 40):
    target = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
    return (np.abs(pixels.astype(int) - target) <= tol).all(axis=-1)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: chromium)")
def test_html_renders_in_headless_chromium(paper_store, tmp_path):
    from PIL import Image

    from suite.report.figures import PALETTE

    spec_path, results = paper_store
    html = tmp_path / "report.html"
    invoke("report", spec_path, "--results", results, "--format", "html", "--out", html)
    png = tmp_path / "report.png"
    _screenshot(html, png, tmp_path / "profile", (1400, 2400))
    image = Image.open(png).convert("RGB")
    assert image.size == (1400, 2400)
    pixels = np.asarray(image)
    ink = (pixels.sum(axis=-1) < 3 * 200).mean()
    assert 0.01 < ink < 0.5, f"{ink:.3f} of the page is ink"
    # the tables: dark text in the top part of the page
    assert (pixels[:400].sum(axis=-1) < 3 * 100).sum() > 2000
    # the figures: each method's colour is drawn (an unrendered <img> has none)
    for color in PALETTE[:3]:  # DPF, SNIP, SM
        drawn = int(_near(pixels, color).sum())
        assert drawn > 300, f"{color}: {drawn} pixels"
