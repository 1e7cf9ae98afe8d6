"""``python -m suite.cli``: the ``suite`` command (what the workers of ``suite launch`` run)."""

from suite.cli import main

main()
