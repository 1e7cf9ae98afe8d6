"""What went wrong in a user's ``--template``: its file, line and the Jinja2 error.

A syntax error carries its own line; an error while rendering (an undefined variable,
a filter given the wrong type) is located by the template's frame in the traceback,
which Jinja2 rewrites to point at template lines.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import jinja2


def template_line(exc: BaseException, path: Path) -> int | None:
    """The line of ``path`` at which ``exc`` was raised, if the traceback shows it."""
    if isinstance(exc, jinja2.TemplateSyntaxError) and exc.lineno:
        return exc.lineno
    target = path.resolve()
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        try:
            if frame.filename and Path(frame.filename).resolve() == target:
                line = frame.lineno
        except (OSError, ValueError):
            continue
    return line


def describe(exc: BaseException, path: Path) -> str:
    """'--template my.j2, line 3: undefined variable ...: 'tabels' is undefined'."""
    where = f"--template {path}"
    if isinstance(exc, jinja2.TemplateSyntaxError) and exc.filename and \
            Path(exc.filename).resolve() != path.resolve():
        where += f" (in {exc.filename})"  # an included or extended template
    line = template_line(exc, path)
    if line:
        where += f", line {line}"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        kind = "Jinja2 syntax error"
    elif isinstance(exc, jinja2.UndefinedError):
        kind = "undefined variable or attribute"
    elif isinstance(exc, jinja2.TemplateNotFound):
        kind = "template not found"
    else:
        kind = type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    return (f"{where}: {kind}: {message}; the template sees `tables`, `title`, `description` "
            "and `standalone` (see reports/templates/ for the built-in ones)")
