"""Turns make's output into progress a person can read: the phase, objects done of expected, elapsed.

Unikraft's build prints one short line per step (`  CC      libmusl/src/…o`, `  LD      app.dbg`).
The phase follows from them — configure (Kconfig, unpacking and patching sources), libraries
(compiling and prelinking them), final link (the image's LD and what follows) — and each CC,
CXX or AS line is an object done. How many to expect comes from the last build of the same
Unikraft and libraries, recorded in the cache when a build reaches its final link; a first build
shows its count alone. The drawing (a terminal, one line redrawn, nothing otherwise) is
`progress.TerminalProgress`'s: this module only says what the line reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time

from .execute import Progress
from .layout import CacheLayout

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from collections.abc import Callable

    from .config import BuildConfig

COMPILE_STEPS = frozenset({"CC", "CXX", "AS"})
# Steps of the final link: Unikraft's LD of the debug image, then stripping and boot formats.
FINAL_STEPS = frozenset({"SCSTRIP", "UKBI", "MULTIBT", "STRIP", "GZ"})
LIBRARY_STEPS = COMPILE_STEPS | {"LD", "OBJCOPY", "AR", "CP"}


def record_path(cache: str, config: BuildConfig) -> str:
    """Where the object count of builds of this Unikraft with these libraries is kept."""
    identity = [config.unikraft.commit or config.unikraft.path, config.target.label]
    identity += [f"{lib.name}@{lib.commit or lib.path}" for lib in config.libraries]
    digest = hashlib.sha256("\0".join(identity).encode()).hexdigest()[:20]
    return CacheLayout(cache).progress_record(digest)


def expected_objects(path: str) -> int | None:
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle).get("objects")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def _remember(path: str, objects: int) -> None:
    # Only an estimate for the next build: a cache that cannot be written loses nothing else.
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump({"objects": objects}, handle)
        os.replace(temporary, path)


def describe(phase: str, done: int, expected: int | None, elapsed: float) -> str:
    minutes, seconds = divmod(int(elapsed), 60)
    clock = f"{minutes}:{seconds:02d}"
    if expected:
        shown = min(done, expected)
        return f"{phase}, {shown}/{expected} objects ({100 * shown // expected}%), {clock}"
    return f"{phase}, {done} objects, {clock}"


class BuildProgress(Progress):
    """A Progress that reads make's lines and hands `display` one readable status line each."""

    def __init__(self, display: Progress, record: str | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._display = display
        self._record = record
        self._clock = clock
        self._expected = expected_objects(record) if record else None
        self._started = 0.0
        self.phase = "configure"
        self.done = 0

    def start(self, title: str) -> None:
        self._started = self._clock()
        self._display.start(title)

    def line(self, text: str) -> None:
        words = text.split()
        step = words[0] if words else ""
        target = words[-1] if len(words) > 1 else ""
        if step in COMPILE_STEPS:
            self.done += 1
        if step in FINAL_STEPS or (step == "LD" and target.endswith(".dbg")):
            self.phase = "final link"
        elif step in LIBRARY_STEPS and self.phase != "final link":
            self.phase = "libraries"
        self._display.line(describe(self.phase, self.done, self._expected, self._clock() - self._started))

    def finish(self) -> None:
        if self._record and self.phase == "final link" and self.done:
            _remember(self._record, self.done)
        self._display.finish()


def follow(cache: str, config: BuildConfig, display: Progress | None) -> Progress:
    """Readable progress on `display`; without one (no terminal) nothing is drawn, but the
    build's object count is still recorded for the next build's percentage."""
    return BuildProgress(display or Progress(), record_path(cache, config))
