"""Readable build progress: phases and counts from make's lines, the expected count remembered, a real pty."""

from __future__ import annotations

import os
import pty
import select
from pathlib import Path

import pytest

from kraftld import buildprogress, progress
from kraftld.config import BuildConfig
from kraftld.execute import Progress

NOLIBC_BUILD = [
    "  LN      Makefile",
    "  MAKE    kconfig",
    "  UNTAR   musl-1.2.3.tar.gz",
    "  CC      libnolibc: printf.o",
    "  AS      libkvmplat: entry64.o",
    "  LD      libnolibc.o",
    "  OBJCOPY libnolibc.o",
    "  CC      appkraftld: params.o",
    "  LD      app_qemu-x86_64.dbg",
    "  SCSTRIP app_qemu-x86_64",
    "  UKBI    app_qemu-x86_64.bootinfo",
]


class Recorder(Progress):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("lines", "phase", "done"),
    [
        (NOLIBC_BUILD[:3], "configure", 0),
        (NOLIBC_BUILD[:5], "libraries", 2),
        (NOLIBC_BUILD[:8], "libraries", 3),
        (NOLIBC_BUILD[:9], "final link", 3),
        (NOLIBC_BUILD, "final link", 3),
        (["/usr/bin/ld: warning: x.o: missing .note.GNU-stack section"], "configure", 0),
    ],
)
def test_phase_and_count_follow_makes_lines(lines: list[str], phase: str, done: int) -> None:
    shown = Recorder()
    follower = buildprogress.BuildProgress(shown, None)
    follower.start("building")
    for line in lines:
        follower.line(line + "\n")
    assert (follower.phase, follower.done) == (phase, done)
    assert shown.lines[-1].startswith(f"{phase}, {done} objects, ")


def test_the_next_build_of_the_same_libraries_shows_a_percentage(tmp_path: Path) -> None:
    record = str(tmp_path / "progress" / "k.json")
    clock = Clock()
    first = buildprogress.BuildProgress(Recorder(), record, clock)
    first.start("building")
    for line in NOLIBC_BUILD:
        first.line(line)
    first.finish()
    shown = Recorder()
    second = buildprogress.BuildProgress(shown, record, clock)
    second.start("building")
    clock.now += 75
    second.line(NOLIBC_BUILD[3])
    assert shown.lines == ["libraries, 1/3 objects (33%), 1:15"]


def test_a_build_that_never_reached_its_final_link_records_nothing(tmp_path: Path) -> None:
    record = tmp_path / "progress" / "k.json"
    follower = buildprogress.BuildProgress(Recorder(), str(record))
    follower.start("building")
    follower.line(NOLIBC_BUILD[3])
    follower.finish()
    assert not record.exists()


def test_without_a_terminal_nothing_is_drawn_and_the_count_is_still_kept(tmp_path: Path) -> None:
    from kraftld.kraftfile import Target
    from kraftld.sources import SourceTree

    config = BuildConfig("app", SourceTree("unikraft", "/uk", "c0ffee"), (), Target("qemu", "x86_64"), "")
    follower = buildprogress.follow(str(tmp_path), config, None)
    follower.start("building")
    for line in NOLIBC_BUILD:
        follower.line(line)
    follower.finish()
    assert buildprogress.expected_objects(buildprogress.record_path(str(tmp_path), config)) == 3


def test_drawn_in_place_on_a_real_pseudo_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    master, slave = pty.openpty()
    clock = Clock()
    # The terminal display waits a second before drawing (a relink is over by then): its clock moves here.
    monkeypatch.setattr("kraftld.progress.time.monotonic", clock)
    terminal = progress.TerminalProgress(os.fdopen(slave, "w"), owned=True)
    assert terminal._stream is not None and terminal._stream.isatty()
    follower = buildprogress.BuildProgress(terminal, None, clock)
    follower.start("building the unikernel (qemu/x86_64)")
    for line in NOLIBC_BUILD:
        clock.now += 1.0
        follower.line(line + "\n")
    follower.finish()
    drawn = b""
    while select.select([master], [], [], 0.5)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side is closed, all is read
            break
        if not chunk:
            break
        drawn += chunk
    os.close(master)
    text = drawn.decode()
    assert "\r\x1b[Kkraftld: building the unikernel (qemu/x86_64): libraries, 2 objects, 0:05" in text
    assert "\r\x1b[Kkraftld: building the unikernel (qemu/x86_64): final link, 3 objects, 0:09" in text
    assert text.endswith("\r\x1b[K")  # the line is cleared when the build ends
    assert "\n" not in text.replace("\r\n", "")  # one line, redrawn
