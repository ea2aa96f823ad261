"""Fixtures for the unit layer: real ELF objects and archives, a fake Unikraft tree, no terminal."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support import HOST_FACT, ROOT, RealLine, looks_like_input, relocate


@pytest.fixture(scope="session")
def object_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real x86_64 relocatable object, made by the machine's gcc."""
    folder = tmp_path_factory.mktemp("object")
    (folder / "input.c").write_text("int kraftld_test_symbol(void) { return 42; }\n")
    subprocess.run(["gcc", "-c", "-o", str(folder / "input.o"), str(folder / "input.c")], check=True)
    return (folder / "input.o").read_bytes()


@pytest.fixture(scope="session")
def archive_bytes(tmp_path_factory: pytest.TempPathFactory, object_bytes: bytes) -> bytes:
    """A real ar archive holding one object (rlibs are ar archives too)."""
    folder = tmp_path_factory.mktemp("archive")
    (folder / "member.o").write_bytes(object_bytes)
    subprocess.run(["ar", "rcs", str(folder / "libmember.a"), str(folder / "member.o")], check=True)
    return (folder / "libmember.a").read_bytes()


@pytest.fixture(scope="session")
def static_elf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A static x86_64 ELF executable: what a Unikraft image looks like to the static check."""
    folder = tmp_path_factory.mktemp("elf")
    (folder / "s.c").write_text("void _start(void) { for (;;) ; }\n")
    subprocess.run(["gcc", "-static", "-nostdlib", "-no-pie", "-o", str(folder / "s"), str(folder / "s.c")], check=True)
    return (folder / "s").read_bytes()


@pytest.fixture
def make_real(tmp_path: Path, object_bytes: bytes, archive_bytes: bytes) -> Callable[[list[str]], RealLine]:
    def make(args: list[str]) -> RealLine:
        root = tmp_path / ROOT
        cwd = tmp_path / "cwd"
        cwd.mkdir(parents=True, exist_ok=True)
        real: list[str] = []
        previous = ""
        for arg in args:
            if arg.startswith("-Wl,-Map="):
                new = "-Wl,-Map=" + relocate(arg[len("-Wl,-Map=") :], root)
            elif arg.startswith("-B/"):
                new = "-B" + relocate(arg[2:], root)
            else:
                new = relocate(arg, root)
            if looks_like_input(arg):
                path = Path(new) if Path(new).is_absolute() else cwd / new
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(object_bytes if arg.endswith(".o") else archive_bytes)
            elif previous in ("-L", "-o") and new.startswith(str(root)):
                folder = Path(new) if previous == "-L" else Path(new).parent
                folder.mkdir(parents=True, exist_ok=True)
            real.append(new)
            previous = arg
        return RealLine(real, cwd, root)

    return make


@pytest.fixture
def fake_unikraft(tmp_path: Path) -> Path:
    """A folder shaped like a Unikraft 0.17 tree, for tests that never run its make."""
    tree = tmp_path / "unikraft"
    (tree / "support" / "build").mkdir(parents=True)
    (tree / "Config.uk").write_text("")
    (tree / "Makefile").write_text("# UK_LDEPS - explicit link-time dependencies\n")
    (tree / "version.mk").write_text("UK_VERSION = 0\nUK_SUBVERSION = 17\nUK_EXTRAVERSION = 0\n")
    return tree


@pytest.fixture
def environ(tmp_path: Path, fake_unikraft: Path) -> dict[str, str]:
    return {
        "KRAFTLD_UNIKRAFT": str(fake_unikraft),
        "KRAFTLD_CACHE": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
        "PATH": os.environ.get("PATH", ""),
    }


@pytest.fixture(autouse=True)
def _no_terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Progress goes to /dev/tty when there is one; tests must not draw on the developer's screen.
    monkeypatch.setattr("kraftld.progress.terminal_progress", lambda: None)
    yield


# --- CI's rules for skips, and where the time went --------------------------------------------
# With KRAFTLD_TEST_NO_SKIPS=1 (.ci/run sets it, beside the kit's tree and mirror) every real
# suite must run: a skip fails the session unless its reason starts with HOST_FACT, a fact of
# the host CI cannot change. KRAFTLD_TEST_TIMES=1 prints the wall time spent in each test file.

_skips: list[tuple[str, str]] = []
_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    _seconds[path] = _seconds.get(path, 0.0) + report.duration
    if report.skipped and report.when in ("setup", "call"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skips.append((report.nodeid, reason.removeprefix("Skipped: ")))


def _forbidden_skips() -> list[tuple[str, str]]:
    if os.environ.get("KRAFTLD_TEST_NO_SKIPS") != "1":
        return []
    return [(node, reason) for node, reason in _skips if not reason.startswith(HOST_FACT)]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _forbidden_skips() and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    forbidden = _forbidden_skips()
    if forbidden:
        terminalreporter.section("skips CI does not allow (KRAFTLD_TEST_NO_SKIPS=1)")
        for node, reason in forbidden:
            terminalreporter.write_line(f"{node}: {reason}")
    if os.environ.get("KRAFTLD_TEST_TIMES") == "1":
        terminalreporter.section("wall time by test file")
        for path, seconds in sorted(_seconds.items(), key=lambda item: -item[1]):
            terminalreporter.write_line(f"{seconds:8.1f} s  {path}")
