"""Fixtures for the unit layer: real ELF objects and archives, a fake Unikraft tree, no terminal."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support import ROOT, RealLine, looks_like_input, relocate


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
