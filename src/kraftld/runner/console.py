"""Turns the serial console's byte stream back into the program's stdout, its stderr and its exit
status.

Unikraft's serial driver sends `\\r\\n` for each `\\n`; the filter undoes exactly that. kraftld's
runtime marks the console with OSC sequences (which terminals do not show and no program output
is mistaken for), and the filter takes them out:
- `ESC ] kraftld-exit-status ; N BEL` ends the stream and carries the status;
- `ESC ] kraftld-stderr ; BEL` … `ESC ] kraftld-stdout ; BEL` surround what the program wrote to
  fd 2 (the runtime wraps the write system calls; posix-tty makes fd 2 a copy of fd 1 on the
  one console, so nothing else tells them apart).
Output is passed on as it arrives: only bytes that could still be the start of a marker, or a
`\\r` whose `\\n` may follow, are held back until the next chunk decides.
"""

from __future__ import annotations

import re

MARKER_PREFIX = b"\x1b]kraftld-exit-status;"
STDERR_MARKER = b"\x1b]kraftld-stderr;\x07"
STDOUT_MARKER = b"\x1b]kraftld-stdout;\x07"
_MARKER = re.compile(rb"\x1b\]kraftld-(?:exit-status;(-?[0-9]{1,11})|(stderr|stdout);)\x07")
_FIXED_MARKERS = (STDERR_MARKER, STDOUT_MARKER)


class ConsoleFilter:
    def __init__(self) -> None:
        self._pending = b""
        self._to_stderr = False
        self.status: int | None = None

    def feed(self, chunk: bytes) -> bytes:
        """Take a chunk of console bytes; return the program's stdout that is now certain."""
        return self.split(chunk)[0]

    def split(self, chunk: bytes) -> tuple[bytes, bytes]:
        """Take a chunk of console bytes; return the stdout and stderr bytes now certain."""
        data = self._pending + chunk
        self._pending = b""
        out, err = bytearray(), bytearray()
        while data:
            match = _MARKER.search(data)
            if match is None:
                break
            (err if self._to_stderr else out).extend(data[: match.start()])
            if match.group(1) is not None:
                self.status = int(match.group(1))
            else:
                self._to_stderr = match.group(2) == b"stderr"
            data = data[match.end() :]
        keep = _undecided_tail(data)
        if keep:
            self._pending = data[-keep:]
            data = data[:-keep]
        (err if self._to_stderr else out).extend(data)
        return bytes(out).replace(b"\r\n", b"\n"), bytes(err).replace(b"\r\n", b"\n")

    def finish(self) -> bytes:
        """The bytes still held back when the stream ends: they were output after all."""
        out, err = self.finish_split()
        return out + err

    def finish_split(self) -> tuple[bytes, bytes]:
        rest, self._pending = self._pending, b""
        return (b"", rest) if self._to_stderr else (rest, b"")


def _undecided_tail(data: bytes) -> int:
    """How many bytes at the end of `data` may still turn out to be a marker or a `\\r\\n`."""
    start = data.rfind(b"\x1b")
    if start != -1:
        tail = data[start:]
        if (
            MARKER_PREFIX.startswith(tail)
            or any(marker.startswith(tail) for marker in _FIXED_MARKERS)
            or (tail.startswith(MARKER_PREFIX) and re.fullmatch(rb"-?[0-9]{0,11}", tail[len(MARKER_PREFIX) :]))
        ):
            return len(tail)
    return 1 if data.endswith(b"\r") else 0
