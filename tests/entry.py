"""Run the command line through the entry point users run (:func:`etftrader.cli.main`).

``CliRunner().invoke(cli, ...)`` calls the Click group directly, so it never sees what ``main``
does with exit codes and errors (it once hid a ``doctor`` that exited 0 on a FAIL). Tests use
:func:`invoke` instead: the same exit codes and one-line errors as a real terminal.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout then stderr, as a terminal shows them (and as CliRunner's ``output`` did)."""
        return self.stdout + self.stderr


def invoke(args, **_ignored) -> Result:
    """``etftrader <args>`` in this process through :func:`etftrader.cli.main`."""
    from etftrader.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return Result(code, out.getvalue(), err.getvalue())
