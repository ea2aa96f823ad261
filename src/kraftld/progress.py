"""Shows a long build's progress on the user's terminal, one line rewritten in place.

Only a terminal gets it: stderr when it is one, else /dev/tty (cargo captures the linker's
stderr, yet a developer at a terminal still wants to see a one-minute cold build move).
"""

from __future__ import annotations

import os
import shutil
import sys
import time

from .execute import Progress

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from typing import IO


class TerminalProgress(Progress):
    def __init__(self, stream: IO[str], owned: bool) -> None:
        self._stream = stream
        self._owned = owned
        self._title = ""
        self._last = 0.0
        self._shown = False
        self._started = 0.0

    def start(self, title: str) -> None:
        self._title = title
        self._started = time.monotonic()

    def line(self, text: str) -> None:
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
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
        if self._owned:
            self._stream.close()


def terminal_progress() -> TerminalProgress | None:
    if sys.stderr.isatty():
        return TerminalProgress(sys.stderr, owned=False)
    try:
        fd = os.open("/dev/tty", os.O_WRONLY | os.O_NOCTTY)
    except OSError:
        return None
    return TerminalProgress(os.fdopen(fd, "w"), owned=True)
