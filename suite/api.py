"""The suite from Python, e.g. in a notebook: the tables of the CLI as pandas DataFrames,
computed by the same functions ``suite report`` and ``suite export`` call::

    from suite.api import open_results

    res = open_results("specs/quickstart.toml", results="results")
    res.runs()                       # one row per (cell, seed): `suite export --table runs`
    res.summary()                    # mean, std, n per cell and method: `suite report --format csv`
    res.table("curves")              # or "flips", "layers": `suite export --table ...`
    res.runs(only=["method=dpf"])    # --only filters, with the same rules
    print(res.report("markdown"))    # the report text, any format

Without a spec, every spec stored in the store is read. ``store`` takes a URL
(``postgresql://...``, ``sqlite:///...``) as ``--store`` does; by default the store is
``suite.db`` under ``results`` (``$SUITE_STORE`` and ``$SUITE_RESULTS`` are honoured).
Stores are only read.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from suite import export, filters, report
from suite.collection import load_specs
from suite.errors import SuiteError
from suite.spec import Spec
from suite.store import Store, open_existing, open_store


def stored(spec_path: str | Path | None, results: str | Path | None, store_url: str | None
           ) -> tuple[list[Spec], Any, Store | None]:
    """The specs to report or export (SPEC's, else every stored one), their collection
    (None unless SPEC is a collection) and the store (None when nothing is stored yet)."""
    results = str(results) if results is not None else None
    if spec_path:
        loaded = load_specs(str(spec_path))
        store = open_existing(store_url, results)
        return list(loaded.specs), (loaded if loaded.is_collection else None), store
    store = open_store(store_url, results, create=False)
    specs = report.stored_specs(store)
    if not specs:
        raise SuiteError(f"the results store {store.where} holds no runs yet; run `suite run SPEC`")
    return specs, None, store


@dataclass
class Results:
    """The stored results of some specs: each method returns a fresh DataFrame."""

    specs: list[Spec]
    store: Store | None
    collection: Any = None
    where: str = "the store"

    def _filters(self, only: Iterable[str]) -> dict[str, set[str]]:
        return filters.check(self.specs, list(only), self.where)

    def table(self, name: str = "runs", only: Iterable[str] = ()) -> pd.DataFrame:
        """``runs``, ``curves``, ``flips`` or ``layers``, as ``suite export --table NAME``."""
        if name not in export.TABLES:
            raise SuiteError(f"table = {name!r} is not known; known tables: {', '.join(export.TABLES)}")
        chosen = self._filters(only)
        frames = [export.TABLES[name](spec, self.store) for spec in self.specs]
        if chosen:
            frames = [filters.select(f, chosen) for f in frames]
        return pd.concat(frames, ignore_index=True)

    def runs(self, only: Iterable[str] = ()) -> pd.DataFrame:
        """One row per (cell, seed) the specs declare, stored or not, with its status,
        metrics, sparsity, timing and provenance (``suite export --table runs``)."""
        return self.table("runs", only)

    def summary(self, only: Iterable[str] = ()) -> pd.DataFrame:
        """One row per table cell (row key and method): mean, std and n of the spec's
        metric over seeds, failed and missing counts, the reference value
        (``suite report --format csv``)."""
        return pd.read_csv(io.StringIO(self.report("csv", only)))  # the very CSV report

    def report(self, fmt: str = "markdown", only: Iterable[str] = (), **options: Any) -> str:
        """The report text in ``fmt`` (markdown, html, latex, csv); ``options`` as
        :func:`suite.report.report` takes them (template, figures_dir, standalone, ...)."""
        if self.collection is not None:
            options.setdefault("title", self.collection.name)
            options.setdefault("description", self.collection.description)
        return report.report(self.specs, self.store, fmt, only=self._filters(only), **options)


def open_results(spec: str | Path | None = None, *, results: str | Path | None = None,
                 store: str | None = None) -> Results:
    """The results of ``spec`` (a spec or collection file; every stored spec when None)
    in the store at URL ``store``, else ``suite.db`` under ``results``."""
    specs, collection, opened = stored(spec, results, store)
    return Results(specs, opened, collection, str(spec) if spec else "the store")
