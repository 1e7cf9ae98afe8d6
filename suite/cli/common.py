"""What every command shares: the results and store options, and the way a SuiteError
becomes a one-paragraph message and an exit status."""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

from suite.errors import SuiteError

RESULTS_HELP = "artifacts root: logs, checkpoints, models (default: $SUITE_RESULTS, else ./results)"
STORE_HELP = ("the results store: postgresql://USER@HOST/DB or sqlite:///PATH (default: "
              "$SUITE_STORE, else suite.db under the results directory)")


def store_option(fn: Callable) -> Callable:
    """``--store URL`` on every command that reads or writes results."""
    return click.option("--store", "store_url", metavar="URL", help=STORE_HELP)(fn)


def only_option(fn: Callable) -> Callable:
    """``--only KEY=VALUE`` (repeatable) on ``report`` and ``export``."""
    return click.option("--only", multiple=True, metavar="KEY=VALUE",
                        help="only matching runs (method, model, dataset, sparsity, seed, id); "
                             "repeatable")(fn)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Warnings as one line on stderr, 'warning: ...', without the source location."""
    click.echo(f"warning: {message}", err=True)


def reported(fn: Callable) -> Callable:
    """Turn SuiteError into a one-paragraph message and its exit status, no traceback;
    warnings (a spec that removes every cell, ...) become one 'warning:' line each."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        warnings.showwarning = _show_warning
        try:
            return fn(*args, **kwargs)
        except SuiteError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; stored results are kept and `suite run` resumes", err=True)
            sys.exit(130)

    return wrapper


