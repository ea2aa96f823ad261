"""Turns the serial console's byte stream back into the program's output and its exit status.

Unikraft's serial driver sends `\\r\\n` for each `\\n`; the filter undoes exactly that. kraftld's
runtime ends the stream with `ESC ] kraftld-exit-status ; N BEL`; the filter takes it out and keeps
the status. Output is passed on as it arrives: only bytes that could still be the start of that
marker, or a `\\r` whose `\\n` may follow, are held back until the next chunk decides.
"""

from __future__ import annotations

import re

MARKER_PREFIX = b"\x1b]kraftld-exit-status;"
_MARKER = re.compile(rb"\x1b\]kraftld-exit-status;(-?[0-9]{1,11})\x07")


class ConsoleFilter:
    def __init__(self) -> None:
        self._pending = b""
        self.status: int | None = None

    def feed(self, chunk: bytes) -> bytes:
        """Take a chunk of console bytes; return the program output that is now certain."""
        data = self._pending + chunk
        self._pending = b""
        out = bytearray()
        while data:
            match = _MARKER.search(data)
            if match is None:
                break
            out += data[: match.start()]
            self.status = int(match.group(1))
            data = data[match.end() :]
        keep = _undecided_tail(data)
        if keep:
            self._pending = data[-keep:]
            data = data[:-keep]
        out += data
        return bytes(out).replace(b"\r\n", b"\n")

    def finish(self) -> bytes:
        """The bytes still held back when the stream ends: they were output after all."""
        rest, self._pending = self._pending, b""
        return rest


def _undecided_tail(data: bytes) -> int:
    """How many bytes at the end of `data` may still turn out to be a marker or a `\\r\\n`."""
    start = data.rfind(b"\x1b")
    if start != -1:
        tail = data[start:]
        if MARKER_PREFIX.startswith(tail) or (
            tail.startswith(MARKER_PREFIX) and re.fullmatch(rb"-?[0-9]{0,11}", tail[len(MARKER_PREFIX) :])
        ):
            return len(tail)
    return 1 if data.endswith(b"\r") else 0
