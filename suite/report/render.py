"""Rendering report tables: Jinja2 templates (Markdown, HTML, LaTeX in
reports/templates, or the user's own) and CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from reports import TEMPLATES
from suite import template_errors
from suite.errors import SpecError
from suite.latex import SUITEUNICODE, latex_escape
from suite.report.model import Table, format_key

FORMATS = ("markdown", "html", "latex", "csv")
_TEMPLATE_FOR = {"markdown": "report.md.j2", "html": "report.html.j2", "latex": "report.tex.j2"}


def _env(template_dir: Path | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATES)))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             autoescape=lambda name: bool(name) and ".htm" in name)
    env.filters["latex"] = latex_escape
    env.filters["key"] = format_key
    env.filters["signed"] = signed
    env.globals["suiteunicode"] = SUITEUNICODE
    return env


def signed(value: float | None, precision: int = 2) -> str:
    """'+0.35', '−1.20' (a minus sign, not a hyphen), '—' for None."""
    if value is None:
        return "—"
    text = f"{value:+.{precision}f}"
    return text.replace("-", "−")


def render(tables: list[Table], fmt: str, template: str | Path | None = None, *,
           title: str | None = None, description: str = "", standalone: bool = False) -> str:
    """Render ``tables`` in ``fmt`` (markdown, html, latex, csv). ``standalone`` makes
    the LaTeX output a whole document (otherwise a fragment to ``\\input``)."""
    if fmt not in FORMATS:
        raise SpecError(f"--format {fmt!r} is not known; use one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return _csv(tables)
    if template is not None:
        path = Path(template)
        if not path.is_file():
            raise SpecError(f"--template {path}: no such file")
    if title is None:
        title = ", ".join(t.title for t in tables)
    context = {"tables": tables, "title": title, "description": description,
               "standalone": standalone}
    if template is None:
        return _env(None).get_template(_TEMPLATE_FOR[fmt]).render(**context)
    try:
        return _env(path.parent).get_template(path.name).render(**context)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's template is reported
        raise SpecError(template_errors.describe(exc, path)) from None


def _csv(tables: list[Table]) -> str:
    records = []
    for t in tables:
        for row in t.rows:
            for method, s in row.cells.items():
                ref = s.reference
                records.append({"spec": t.spec, **row.key, "method": method, "metric": t.metric,
                                "mean": s.mean, "std": s.std, "n": s.n, "failed": s.failed,
                                "missing": s.missing, "running": s.running,
                                "achieved_sparsity": s.achieved_sparsity,
                                "off_target": s.off_target, "values": " ".join(f"{v:.4f}" for v in s.values),
                                "precision": " ".join(sorted(s.precisions)) or None,
                                "reference": ref.value if ref else None,
                                "reference_std": ref.std if ref else None,
                                "delta": s.delta, "source": ref.source if ref else None,
                                **_speed_columns(t, row.key, method),
                                **_against_columns(t, row, method)})
    return pd.DataFrame(records).to_csv(index=False)


def _against_columns(table: Table, row: Any, method: str) -> dict[str, Any]:
    """A CSV line's columns against its row's best (only with ``[report] against_best``):
    the best's name, and the difference, its standard error, df and p of Welch's test
    (empty for the best itself, baselines, and sides with one seed)."""
    if not table.against:
        return {}
    out: dict[str, Any] = {"best": row.best if method in table.pruning else None,
                           "delta_best": None, "se_best": None, "df_best": None, "p_best": None}
    for a in table.against:
        if a.key == row.key and a.method == method:
            out["delta_best"] = a.delta
            if a.test is not None:
                out.update(se_best=a.test.se, df_best=a.test.df, p_best=a.test.p)
    return out


def _speed_columns(table: Table, key: dict[str, Any], method: str) -> dict[str, Any]:
    """A CSV line's measured columns (only when the table has measurements): MACs kept
    and the speedup at each batch size of the cell."""
    if not table.speed:
        return {}
    out: dict[str, Any] = {"macs_kept": None, **{f"speedup_batch_{b}": None for b in table.speed_batches}}
    for r in table.speed:
        if r.method == method and all(r.key.get(k) == v for k, v in key.items() if k in r.key):
            out["macs_kept"] = r.macs_kept
            out.update({f"speedup_batch_{b}": v for b, v in r.speedup.items()})
    return out
