"""The `kraftld-cc` command: a gcc-compatible compiler driver whose links are Unikraft images.

The boundary, as cli.py is kraftld's: it reads argv and the environment, runs the line, and turns
kraftld's errors into `kraftld-cc: error: …` with a hint and exit status 1. gcc's own failures
keep gcc's messages and exit status.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from typing import TextIO

    from ..commands import ProcessRunner
    from .driver import Passthrough

PROGRAM = "kraftld-cc"


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | None = None,
    runner: ProcessRunner | None = None,
    passthrough: Passthrough | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run kraftld-cc on `argv`; `runner` and `passthrough` replace the process runners (a test's
    recorders) and change nothing else."""
    from ..errors import KraftldError
    from ..logs import configure
    from ..process import logged, run_process
    from .driver import run_inherited, run_line

    args = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if environ is None else environ
    err = stderr or sys.stderr
    configure(PROGRAM, env.get("KRAFTLD_LOG", "warning"), err)
    try:
        return run_line(
            args,
            env,
            cwd or os.getcwd(),
            logged(runner or run_process),
            passthrough or run_inherited,
            log_stream=err,
        )
    except KraftldError as error:
        err.write(error.render(PROGRAM))
        return 1
    except KeyboardInterrupt:
        err.write(f"{PROGRAM}: interrupted\n")
        return 130


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
