"""kraftld's log: one log for the linker and the runner, written to stderr with a prefix.

Not the standard `logging` module: a link is often a fraction of a second, and importing
`logging` costs more than everything this module does (start-up is measured in bench/).
"""

from __future__ import annotations

TYPE_CHECKING = False  # see cli.py: mypy honours the name, and `typing` is not imported
if TYPE_CHECKING:
    from typing import TextIO

LEVELS = ("debug", "info", "warning", "error")


class Log:
    """Messages at or above a level, each written as `program: message` in one write."""

    def __init__(self) -> None:
        self.program = "kraftld"
        self.threshold = LEVELS.index("warning")
        self.stream: TextIO | None = None

    def configure(self, program: str, level: str, stream: TextIO) -> Log:
        """Write to `stream` as `program: message`, at `level` (warning if unknown)."""
        self.program = program
        self.threshold = LEVELS.index(level.lower()) if level.lower() in LEVELS else LEVELS.index("warning")
        self.stream = stream
        return self

    def enabled(self, level: str) -> bool:
        return self.stream is not None and LEVELS.index(level) >= self.threshold

    def debug(self, message: str, *args: object) -> None:
        self._write("debug", message, args)

    def info(self, message: str, *args: object) -> None:
        self._write("info", message, args)

    def _write(self, level: str, message: str, args: tuple[object, ...]) -> None:
        if self.stream is None or not self.enabled(level):
            return
        # One write per message: lines from the tree-check thread never interleave mid-line.
        self.stream.write(f"{self.program}: {message % args if args else message}\n")
        self.stream.flush()


log = Log()


def configure(program: str, level: str, stream: TextIO) -> Log:
    """Send the log to `stream` as `program: message`, at `level` (warning if unknown)."""
    return log.configure(program, level, stream)
