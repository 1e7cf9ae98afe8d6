"""A user's --template with a Jinja2 error: exit 2 with the file, the line and the error."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from suite.cli import main
from suite.errors import SpecError
from suite.report import render


@pytest.mark.parametrize("body,line,words", [
    ("# {{ title }}\n{{ title | }}\n", 2, "syntax error"),
    ("# {{ title }}\n{% for t in tables %}\n{{ t.title }}\n", 3, "end of template"),
    ("# {{ title }}\n\n{{ tabels }}\n", 3, "'tabels' is undefined"),
    ("{% for t in tables %}\n{{ t.title }}\n{{ t.no_such_field }}\n{% endfor %}\n", 3,
     "no_such_field"),
])
def test_template_errors_name_file_and_line(tmp_path, body, line, words):
    path = tmp_path / "mine.md.j2"
    path.write_text(body)
    from suite.report import Table

    table = Table("t", "T", "top1", [], [], [], 2)
    with pytest.raises(SpecError) as info:
        render([table], "markdown", path)
    msg = str(info.value)
    assert msg.startswith(f"--template {path}, line {line}: ") and words in msg


def test_cli_exits_2_without_a_traceback(tmp_path, tiny_spec):
    path = tmp_path / "bad.j2"
    path.write_text("{{ tables | no_such_filter }}\n")
    out = CliRunner().invoke(main, ["report", str(tiny_spec), "--results", str(tmp_path / "r"),
                                    "--template", str(path)])
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output and f"--template {path}, line 1" in out.output
    assert "no_such_filter" in out.output
