"""Shows a long build's progress on the user's terminal, one line rewritten in place.

Only a terminal gets it: stderr when it is one, else /dev/tty (cargo captures the linker's
stderr, yet a developer at a terminal still wants to see a one-minute cold build move). The
terminal is opened when a build starts and closed when it finishes: a fast relink, which shows
no progress, opens nothing.
"""

from __future__ import annotations

import os
import shutil
import sys
import time

from .execute.make import Progress

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from typing import IO


class TerminalProgress(Progress):
    """Progress on `stream`; `owned`: closed when the build finishes. Without a stream, the
    terminal is opened at `start` (and owned)."""

    def __init__(self, stream: IO[str] | None = None, owned: bool = False) -> None:
        self._stream = stream
        self._owned = owned
        self._title = ""
        self._last = 0.0
        self._shown = False
        self._started = 0.0

    def start(self, title: str) -> None:
        self._title = title
        self._started = time.monotonic()
        if self._stream is None:
            self._stream = _open_terminal()
            self._owned = self._stream is not None

    def line(self, text: str) -> None:
        if self._stream is None:
            return
        now = time.monotonic()
        # Quiet for the first second (a relink is over by then) and at most ten updates a second.
        if now - self._started < 1.0 or now - self._last < 0.1:
            return
        self._last = now
        width = shutil.get_terminal_size((80, 24)).columns - 1
        step = " ".join(text.split())
        message = f"kraftld: {self._title}: {step}"[:width]
        self._stream.write("\r\x1b[K" + message)
        self._stream.flush()
        self._shown = True

    def finish(self) -> None:
        if self._stream is None:
            return
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False
        if self._owned:
            self._stream.close()
            self._stream = None
            self._owned = False


def terminal_progress() -> TerminalProgress:
    """Progress on stderr when it is a terminal, else on /dev/tty once a build starts."""
    return TerminalProgress(sys.stderr) if sys.stderr.isatty() else TerminalProgress()


def _open_terminal() -> IO[str] | None:
    try:
        fd = os.open("/dev/tty", os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    return os.fdopen(fd, "w")
