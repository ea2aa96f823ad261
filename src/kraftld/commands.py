"""Command values: what a process is asked to do and what came of it, and who may run one.

Values only (no subprocess here): the plan builds `Command`s, the execution stage hands them to a
`ProcessRunner` (`process.run_process`, or a test's recorder), and errors show a `Completed`.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from typing import IO, Protocol


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    cwd: str | None = None
    env: Mapping[str, str] | None = None  # the whole environment; None inherits kraftld's
    pass_fds: tuple[int, ...] = ()

    def shell_quoted(self) -> str:
        return shlex.join(self.argv)


@dataclass(frozen=True)
class Completed:
    command: Command
    returncode: int
    tail: tuple[str, ...] = field(default=())  # the last lines of its output


LineSink = Callable[[str], None]


if TYPE_CHECKING:

    class ProcessRunner(Protocol):
        """What runs a command: `run_process`, `logged(...)` of it, or a test's recorder."""

        def __call__(
            self, command: Command, *, log_file: IO[str] | None = None, on_line: LineSink | None = None
        ) -> Completed: ...


def describe_failure(completed: Completed) -> list[str]:
    """The lines an error shows for a failed command: the command, then its output's tail."""
    lines = [f"command: {completed.command.shell_quoted()}"]
    if completed.command.cwd:
        lines[0] += f"  (in {completed.command.cwd})"
    if completed.tail:
        lines.append(f"last {len(completed.tail)} lines of its output:")
        lines.extend("  " + line for line in completed.tail)
    return lines
