"""Hostile input at the unit layer: one clear error line, nothing left at -o, a usable cache.

A linker runs unattended inside cargo and CI. Each case of the table hands kraftld something
broken and expects exit status 1, exactly one `kraftld: error:` line followed by a `hint:`, no
traceback, nothing at -o or -o.dbg (a stale image put there first must be gone), nothing new in
the working folder, and a cache the next link can use. The paths-as-data table links inputs
and outputs whose names are shell and make syntax, and checks that every word reaching make is
plain and that no command is ever run through a shell.

No real Unikraft here: make is `FakeRunner` (tests/support.py), or a variant that fails the way
a real build can fail.
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import resource
import shlex
import stat
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from kraftld import atomic
from kraftld.cli import main
from kraftld.errors import ConfigError
from kraftld.kraftfile import parse_kraftfile
from kraftld.process import Command, Completed, run_process
from support import HOST_FACT, FakeRunner

# What may reach make and the shell Unikraft runs its link through (plan.py's plain word).
PLAIN_WORD = re.compile(r"^[A-Za-z0-9_./,=+:@%-]+$")
SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "csh", "tcsh", "fish", "busybox", "env"}
PWNED = "PWNED"


# --- running kraftld in-process -----------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: int | None  # None: an exception escaped main, which the real command shows as a traceback
    out: str
    err: str
    escaped: str  # the traceback of what escaped, or ""


def call(args: list[str], environ: dict[str, str], cwd: Path, runner: FakeRunner) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    try:
        status = main(args, environ=environ, cwd=str(cwd), runner=runner, stdout=out, stderr=err)
    except (Exception, KeyboardInterrupt):  # anything that escapes is the finding
        return Outcome(None, out.getvalue(), err.getvalue(), traceback.format_exc())
    return Outcome(status, out.getvalue(), err.getvalue(), "")


class SideOutputRunner(FakeRunner):
    """A fake make that also writes the files the link names with -Map, as ld would."""

    def __call__(
        self, command: Command, *, log_file: IO[str] | None = None, on_line: Callable[[str], None] | None = None
    ) -> Completed:
        completed = super().__call__(command, log_file=log_file, on_line=on_line)
        if command.argv[0] == "make" and "defconfig" not in command.argv and completed.returncode == 0:
            for word in _make_words(command.argv, "UK_LDFLAGS="):
                if word.startswith("-Wl,-Map,"):
                    Path(word[len("-Wl,-Map,") :]).write_text("link map\n")
        return completed


class FailingStep(FakeRunner):
    """A fake make whose `step` ("defconfig", "build"), or gcc compiling kraftld's "runtime" object or
    "launcher", fails with the given output."""

    def __init__(self, step: str, returncode: int, tail: tuple[str, ...], image_bytes: bytes) -> None:
        super().__init__(image_bytes=image_bytes)
        self.step = step
        self.returncode = returncode
        self.tail = tail

    def __call__(
        self, command: Command, *, log_file: IO[str] | None = None, on_line: Callable[[str], None] | None = None
    ) -> Completed:
        argv = command.argv
        if argv[0] == "gcc":
            step = "runtime" if argv[-1].endswith("kraftld_runtime.c") else "launcher"
        else:
            step = "defconfig" if "defconfig" in argv else "build"
        if argv[0] in ("gcc", "make") and step == self.step:
            self.commands.append(command)
            return Completed(command, self.returncode, self.tail)
        return super().__call__(command, log_file=log_file, on_line=on_line)


class SilentMake(FakeRunner):
    """A fake make that succeeds and leaves no image, as a build for an unknown platform would."""

    def __call__(
        self, command: Command, *, log_file: IO[str] | None = None, on_line: Callable[[str], None] | None = None
    ) -> Completed:
        if command.argv[0] == "make" and "defconfig" not in command.argv:
            self.commands.append(command)
            build = Path(next(a[2:] for a in command.argv if a.startswith("O=")))
            build.mkdir(parents=True, exist_ok=True)
            return Completed(command, 0)
        return super().__call__(command, log_file=log_file, on_line=on_line)


def _make_words(argv: tuple[str, ...], prefix: str) -> list[str]:
    values = [a[len(prefix) :] for a in argv if a.startswith(prefix)]
    return [word for value in values for word in value.split(" ")]


# --- the harness every case builds on -----------------------------------------------------


@dataclass
class Harness:
    tmp: Path
    work: Path  # the link's working folder: nothing may appear here on failure
    next_dir: Path  # where the follow-up link runs, away from the case's Kraftfile
    cache: Path
    tree: Path
    environ: dict[str, str]
    object_bytes: bytes
    archive_bytes: bytes
    static_elf: bytes

    def runner(self) -> FakeRunner:
        return FakeRunner(image_bytes=self.static_elf)

    def file(self, name: str, data: bytes | str, folder: Path | None = None) -> Path:
        path = (folder or self.work) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data)
        else:
            path.write_bytes(data)
        return path

    def project(self, kraftfile: str | bytes) -> Path:
        """A folder holding a Kraftfile and main.o, to link from."""
        folder = self.work / "project"
        self.file("Kraftfile", kraftfile, folder)
        self.file("main.o", self.object_bytes, folder)
        return folder

    def cache_entry(self, cwd: Path | None = None) -> Path:
        """The cache folder a plain link from `cwd` uses, as the dry run names it."""
        outcome = call(
            ["main.o", "-o", "app"], {**self.environ, "KRAFTLD_DRY_RUN": "1"}, cwd or self.work, self.runner()
        )
        assert outcome.status == 0, outcome.err + outcome.escaped
        (line,) = [line for line in outcome.out.splitlines() if line.startswith("cache folder: ")]
        return Path(line[len("cache folder: ") :])


@pytest.fixture
def harness(
    tmp_path: Path,
    environ: dict[str, str],
    fake_unikraft: Path,
    object_bytes: bytes,
    archive_bytes: bytes,
    static_elf: bytes,
) -> Harness:
    work = tmp_path / "work"
    work.mkdir()
    (work / "main.o").write_bytes(object_bytes)
    next_dir = tmp_path / "next"
    next_dir.mkdir()
    (next_dir / "good.o").write_bytes(object_bytes)
    return Harness(
        tmp_path,
        work,
        next_dir,
        Path(environ["KRAFTLD_CACHE"]),
        fake_unikraft,
        dict(environ),
        object_bytes,
        archive_bytes,
        static_elf,
    )


@dataclass
class Attempt:
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)  # on top of the harness's environment
    cwd: Path | None = None  # the harness's work folder by default
    runner: FakeRunner | None = None
    # Paths that must not exist afterwards (with their .dbg); `stale` puts an old image there first.
    outputs: tuple[Path, ...] = ()
    stale: bool = False
    patch: Callable[[pytest.MonkeyPatch], None] | None = None  # undone before the follow-up link
    cleanup: Callable[[], None] | None = None  # e.g. free the "full" disk before the follow-up link


@dataclass(frozen=True)
class Case:
    id: str
    message: str  # found in the error line, case-insensitively
    make: Callable[[Harness], Attempt]
    xfail: str | None = None  # a kraftld bug this case shows, until it is fixed
    hint: str = ""  # found in the hint line, when the hint is the point


def _app(h: Harness, *args: str, cwd: Path | None = None, stale: bool = True, **kwargs: Any) -> Attempt:
    """An attempt whose -o is `app` in its working folder, where a stale image waits first.

    `stale=False` for errors found before the link line is read (kraftld's own settings): then
    kraftld does not know -o, and leaves whatever is there, as gcc does for a usage error.
    """
    return Attempt([*args, "-o", "app"], cwd=cwd, outputs=((cwd or h.work) / "app",), stale=stale, **kwargs)


def then(_setup: object, attempt: Attempt) -> Attempt:
    """`then(prepare(), attempt)`: a case's setup, evaluated first, and its attempt."""
    return attempt


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _symlink(path: Path, target: str) -> Path:
    path.symlink_to(target)
    return path


def _too_old(h: Harness) -> Attempt:
    makefile = h.tree / "Makefile"
    original = makefile.read_text()
    makefile.write_text("# Unikraft 0.16: no link dependencies here\n")

    def restore() -> None:
        makefile.write_text(original)

    return _app(h, "main.o", cleanup=restore)


def _shared_object(h: Harness) -> bytes:
    # An ELF header of type ET_DYN (3), x86_64: what resolve calls a shared object.
    head = bytearray(h.object_bytes[:64])
    head[16:18] = (3).to_bytes(2, "little")
    return bytes(head)


def _with_machine(data: bytes, machine: int) -> bytes:
    patched = bytearray(data)
    patched[18:20] = machine.to_bytes(2, "little")
    return bytes(patched)


def _response_chain(h: Harness, depth: int, last: str) -> Path:
    folder = h.tmp / "chain"
    folder.mkdir()
    for index in range(depth):
        text = f"@{folder / f'f{index + 1}'}" if index < depth - 1 else last
        (folder / f"f{index}").write_text(text)
    return folder / "f0"


def _full_disk_under(folder: Path) -> Callable[[pytest.MonkeyPatch], None]:
    """Files created under `folder` sit on a full disk: every write to them fails with ENOSPC.

    atomic.temporary_beside is how kraftld creates files it writes whole (cache files, the
    image at -o); under `folder` it hands out a descriptor of /dev/full, the kernel's always-full
    device.
    """
    original = atomic.temporary_beside

    def temporary_beside(path: str) -> tuple[int, str]:
        if os.path.abspath(path).startswith(str(folder)):
            fd = os.open("/dev/full", os.O_WRONLY)
            return fd, os.path.join(os.path.dirname(path), ".kraftld-on-a-full-disk")
        return original(path)

    def patch(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(atomic, "temporary_beside", temporary_beside)

    return patch


def _build_log_on_full_disk(h: Harness) -> Attempt:
    entry = h.cache_entry()
    entry.mkdir(parents=True, exist_ok=True)
    log = entry / "build.log"
    log.symlink_to("/dev/full")
    return _app(h, "main.o", cleanup=log.unlink)


def _loop(h: Harness, name: str) -> Path:
    """A symbolic link to itself: open() fails with ELOOP, even for root (chmod 000 does not)."""
    path = h.work / name
    path.symlink_to(name)
    return path


def _fast_expansion_bomb(h: Harness) -> Attempt:
    inner = h.file("inner.rsp", " ".join(["x"] * 1000), h.tmp)
    outer = h.file("outer.rsp", "\n".join([f"@{inner}"] * 1001), h.tmp)
    return Attempt([f"@{outer}", "-o", "app"])


CASES: list[Case] = [
    # Inputs
    Case("missing-input", "input not found: missing.o", lambda h: _app(h, "main.o", "missing.o")),
    Case(
        "unreadable-input",
        "input cannot be read",
        lambda h: _app(h, "main.o", _loop(h, "loop.o").name),
    ),
    Case(
        "dangling-symlink-input",
        "input not found",
        lambda h: then(_symlink(h.work / "dangling.o", "nowhere.o"), _app(h, "dangling.o")),
    ),
    Case("input-is-a-folder", "input is a folder", lambda h: then(_folder(h.work / "dir.o"), _app(h, "dir.o"))),
    Case(
        "input-not-utf8-missing",
        "input not found",
        lambda h: _app(h, "main.o", os.fsdecode(b"x\xff\xfe.o")),
    ),
    Case("source-file-input", "is a source file", lambda h: then(h.file("main.c", "int main;"), _app(h, "main.c"))),
    Case("stdin-input", "standard input", lambda h: Attempt(["main.o", "-", "-o", "app"])),
    Case(
        "shared-object-input",
        "is a shared object",
        lambda h: then(h.file("libx.so", _shared_object(h)), _app(h, "main.o", "libx.so")),
    ),
    Case(
        "executable-input",
        "already linked executable",
        lambda h: then(h.file("prog", h.static_elf), _app(h, "main.o", "prog")),
    ),
    Case(
        "aarch64-object",
        "not an x86_64 object",
        lambda h: then(h.file("arm.o", _with_machine(h.object_bytes, 183)), _app(h, "arm.o")),
    ),
    Case(
        "llvm-bitcode",
        "LLVM bitcode",
        lambda h: then(h.file("lto.o", b"BC\xc0\xde" + b"\0" * 60), _app(h, "lto.o")),
    ),
    Case(
        "binary-junk-input", "neither an object", lambda h: then(h.file("junk.o", b"\0\1\2\3" * 16), _app(h, "junk.o"))
    ),
    # Response files
    Case("missing-response-file", "response file not found", lambda h: Attempt([f"@{h.tmp}/missing.rsp"])),
    Case(
        "empty-response-file",
        "no input files",
        lambda h: Attempt([f"@{h.file('empty.rsp', '', h.tmp)}", "-o", "app"], outputs=(h.work / "app",), stale=True),
    ),
    Case("empty-response-file-only", "no output named", lambda h: Attempt([f"@{h.file('empty.rsp', '', h.tmp)}"])),
    Case(
        "self-including-response-file",
        "includes itself",
        lambda h: Attempt([f"@{h.file('self.rsp', f'main.o @{h.tmp}/self.rsp -o app', h.tmp)}"]),
    ),
    Case(
        "mutually-including-response-files",
        "includes itself",
        lambda h: then(
            h.file("b.rsp", f"@{h.tmp}/a.rsp", h.tmp),
            Attempt([f"@{h.file('a.rsp', f'main.o @{h.tmp}/b.rsp', h.tmp)}", "-o", "app"]),
        ),
    ),
    Case(
        "binary-response-file",
        "contains NUL bytes",
        lambda h: Attempt(["@" + str(h.file("bin.rsp", b"main.o\0-o app", h.tmp))]),
    ),
    Case(
        "response-file-is-a-folder",
        "response file is a directory",
        lambda h: then(_folder(h.tmp / "dir.rsp"), Attempt([f"@{h.tmp}/dir.rsp", "-o", "app"])),
    ),
    Case(
        "unreadable-response-file",
        "cannot read response file",
        lambda h: Attempt([f"@{_loop(h, 'loop.rsp')}", "-o", "app"]),
    ),
    Case("response-files-expand-without-end", "more than 1000000 arguments", _fast_expansion_bomb),
    Case(
        "response-files-nested-1200-deep",
        # Whether kraftld expands the chain (as gcc does) or refuses it, the line it ends in has
        # no -o: one clear error either way.
        "",
        lambda h: Attempt([f"@{_response_chain(h, 1200, 'main.o')}"]),
    ),
    # The link line
    Case("shared", "-shared: not supported", lambda h: Attempt(["main.o", "-shared", "-o", "app"])),
    Case("relocatable", "-r: not supported", lambda h: Attempt(["main.o", "-r", "-o", "app"])),
    Case("entry-point", "not supported", lambda h: Attempt(["main.o", "-e", "start", "-o", "app"])),
    Case("default-script", "not supported", lambda h: Attempt(["main.o", "-Wl,-dT,x.ld", "-o", "app"])),
    Case("unknown-flag", "unknown flag --frobnicate", lambda h: Attempt(["main.o", "--frobnicate", "-o", "app"])),
    Case("output-missing", "no output named", lambda h: Attempt(["main.o"])),
    Case("output-without-value", "-o needs a value", lambda h: Attempt(["main.o", "-o"])),
    Case("output-twice", "the output is named twice", lambda h: Attempt(["main.o", "-o", "app", "-o", "app2"])),
    Case("output-empty", "-o names an empty path", lambda h: Attempt(["main.o", "-o", ""])),
    Case(
        "output-in-missing-folder",
        "folder of the output does not exist",
        lambda h: Attempt(["main.o", "-o", "no/such/folder/app"]),
    ),
    Case(
        "output-in-missing-non-utf8-folder",
        "folder of the output does not exist",
        lambda h: Attempt(["main.o", "-o", os.fsdecode(b"no\xff/app")]),
    ),
    Case(
        "output-is-a-folder",
        "the output is a folder",
        lambda h: then(_folder(h.work / "out"), Attempt(["main.o", "-o", "out"])),
    ),
    Case(
        "debug-output-is-a-folder",
        "the debug image (-o.dbg) is a folder",
        lambda h: then(_folder(h.work / "out.dbg"), Attempt(["main.o", "-o", "out"])),
    ),
    Case(
        "output-name-too-long",
        "",
        lambda h: Attempt(["main.o", "-o", "a" * 300]),
    ),
    Case("no-inputs", "no input files", lambda h: _app(h)),
    Case("unknown-library", "cannot find -lnothere", lambda h: _app(h, "main.o", "-lnothere")),
    Case(
        "shared-only-library",
        "only a shared library was found",
        lambda h: then(h.file("lib/libdyn.so", _shared_object(h)), _app(h, "main.o", "-Llib", "-ldyn")),
    ),
    Case(
        "missing-linker-script",
        "linker script not found",
        lambda h: _app(h, "main.o", "-T", "missing.ld"),
    ),
    Case(
        "option-value-with-shell-syntax",
        "cannot pass safely",
        lambda h: _app(h, "main.o", f"-Wl,--defsym=x=$(shell touch {PWNED})"),
    ),
    Case(
        "driver-flag-with-backticks",
        "cannot pass safely",
        lambda h: _app(h, "main.o", "-u", f"`touch {PWNED}`"),
    ),
    Case(
        "map-file-in-missing-folder",
        "",
        lambda h: Attempt(
            ["main.o", "-Wl,-Map=nodir/app.map", "-o", "app"],
            outputs=(h.work / "app",),
            stale=True,
            runner=SideOutputRunner(image_bytes=h.static_elf),
        ),
    ),
    # The Kraftfile and kraftld's environment
    Case(
        "kraftfile-not-yaml",
        "is not valid YAML",
        lambda h: _app(h, "main.o", cwd=h.project("targets: [qemu/x86_64\nname: {{\n")),
    ),
    Case(
        "kraftfile-not-a-mapping",
        "is not a YAML mapping",
        lambda h: _app(h, "main.o", cwd=h.project("- qemu/x86_64\n")),
    ),
    Case(
        "kraftfile-not-utf8",
        "cannot read",
        lambda h: _app(h, "main.o", cwd=h.project(b"name: caf\xe9\ntargets: [qemu/x86_64]\n")),
    ),
    Case(
        "kraftfile-unknown-key",
        "unknown key librarys",
        lambda h: _app(h, "main.o", cwd=h.project("spec: v0.6\nlibrarys: {}\ntargets: [qemu/x86_64]\n")),
    ),
    Case(
        "kraftfile-unknown-target-key",
        "unknown key platfrom",
        lambda h: _app(h, "main.o", cwd=h.project("targets:\n  - {platfrom: qemu, arch: x86_64}\n")),
    ),
    Case("kraftfile-no-targets", "names no targets", lambda h: _app(h, "main.o", cwd=h.project("name: app\n"))),
    Case(
        "kraftfile-target-platform-unknown",
        "does not build for platform 'xen'",
        lambda h: _app(h, "main.o", cwd=h.project("targets: [xen/x86_64]\n")),
    ),
    Case(
        "kraftfile-target-architecture-unknown",
        "does not build for architecture 'arm64'",
        lambda h: _app(h, "main.o", cwd=h.project("targets: [qemu/arm64]\n")),
    ),
    Case(
        "kraftfile-target-not-plat-arch",
        "is not plat/arch",
        lambda h: _app(h, "main.o", cwd=h.project("targets: [qemu]\n")),
    ),
    Case(
        "kraftld-target-matches-none",
        "matches none of the targets",
        lambda h: _app(
            h, "main.o", cwd=h.project("targets: [qemu/x86_64, fc/x86_64]\n"), env={"KRAFTLD_TARGET": "xen/arm64"}
        ),
    ),
    Case(
        "kraftld-target-matches-several",
        "matches several targets",
        lambda h: _app(
            h,
            "main.o",
            cwd=h.project(
                "targets:\n  - {name: a, plat: qemu, arch: x86_64}\n  - {name: b, plat: qemu, arch: x86_64}\n"
            ),
            env={"KRAFTLD_TARGET": "qemu/x86_64"},
        ),
    ),
    Case(
        "several-targets-none-chosen",
        "KRAFTLD_TARGET chooses none",
        lambda h: _app(h, "main.o", cwd=h.project("targets: [qemu/x86_64, fc/x86_64]\n")),
    ),
    Case(
        "library-source-missing",
        "does not exist",
        lambda h: _app(
            h, "main.o", cwd=h.project("libraries:\n  musl:\n    source: ./missing\ntargets: [qemu/x86_64]\n")
        ),
    ),
    Case(
        "unikraft-missing",
        "names a folder that does not exist",
        lambda h: _app(h, "main.o", env={"KRAFTLD_UNIKRAFT": str(h.tmp / "no-unikraft")}),
    ),
    Case(
        "unikraft-not-unikraft",
        "not a Unikraft tree",
        lambda h: _app(h, "main.o", env={"KRAFTLD_UNIKRAFT": str(h.work)}),
    ),
    Case("unikraft-too-old", "too old", _too_old),
    Case(
        "cache-path-not-plain",
        "the cache folder has characters",
        lambda h: _app(h, "main.o", env={"KRAFTLD_CACHE": str(h.tmp / "my cache")}),
    ),
    Case(
        "cache-path-is-a-file",
        "",
        lambda h: _app(h, "main.o", env={"KRAFTLD_CACHE": str(h.file("cachefile", "not a folder", h.tmp))}),
    ),
    Case(
        "dry-run-not-a-flag",
        "not a yes/no value",
        lambda h: _app(h, "main.o", env={"KRAFTLD_DRY_RUN": "maybe"}, stale=False),
    ),
    Case("log-level-unknown", "not a log level", lambda h: _app(h, "main.o", env={"KRAFTLD_LOG": "loud"}, stale=False)),
    # The build
    Case(
        "undefined-symbol",
        "the Unikraft build failed",
        lambda h: _app(h, "main.o", runner=FakeRunner(fail_build=True, image_bytes=h.static_elf)),
        hint="a symbol the program uses is defined nowhere",
    ),
    Case(
        "configuration-fails",
        "configuration step failed",
        lambda h: _app(h, "main.o", runner=FailingStep("defconfig", 2, ("Kconfig: syntax error",), h.static_elf)),
    ),
    Case(
        "runtime-object-does-not-compile",
        "cannot compile kraftld's runtime object",
        lambda h: _app(h, "main.o", runner=FailingStep("runtime", 1, ("cc1: fatal error",), h.static_elf)),
    ),
    Case(
        "launcher-does-not-compile",
        "cannot compile kraftld's compiler launcher",
        lambda h: _app(h, "main.o", runner=FailingStep("launcher", 1, ("cc1: fatal error",), h.static_elf)),
    ),
    Case(
        "make-not-installed",
        "the Unikraft build failed",
        lambda h: _app(h, "main.o", runner=FailingStep("build", 127, ("make: command not found",), h.static_elf)),
    ),
    Case("build-leaves-no-image", "left no image", lambda h: _app(h, "main.o", runner=SilentMake(image_bytes=b""))),
    Case(
        "image-is-dynamic",
        "is not static",
        lambda h: _app(h, "main.o", runner=FakeRunner(image_bytes=Path("/bin/true").read_bytes())),
    ),
    Case(
        "image-is-not-elf",
        "not a usable ELF file",
        lambda h: _app(h, "main.o", runner=FakeRunner(image_bytes=b"#!/bin/sh\n")),
    ),
    # A full disk
    Case(
        "disk-full-during-make",
        "the Unikraft build failed",
        lambda h: _app(
            h,
            "main.o",
            runner=FailingStep(
                "build", 2, ("ld: final link failed: No space left on device", "make: *** Error 1"), h.static_elf
            ),
        ),
        hint="the disk holding the cache is full",
    ),
    Case(
        "disk-full-writing-the-cache",
        "space",
        lambda h: _app(h, "main.o", patch=_full_disk_under(h.cache)),
    ),
    Case(
        "disk-full-writing-the-build-log",
        "space",
        _build_log_on_full_disk,
    ),
    Case(
        "disk-full-writing-the-image",
        "no space left to write",
        lambda h: _app(h, "main.o", patch=_full_disk_under(h.work)),
    ),
]


def _params() -> Iterator[Any]:
    for case in CASES:
        marks = [pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else []
        yield pytest.param(case, id=case.id, marks=marks)


def snapshot(folder: Path) -> set[str]:
    return {os.fsdecode(p.relative_to(folder)) for p in folder.rglob("*")}


def assert_cache_usable(h: Harness) -> None:
    """No lock held, no temporary left, and the next link on the same cache succeeds."""
    for lock in h.cache.glob("builds/*/lock"):
        with open(lock, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if anyone still holds it
            fcntl.flock(handle, fcntl.LOCK_UN)
    if h.cache.exists():
        leftovers = [
            p for p in h.cache.rglob("*") if p.name.startswith(".kraftld-") or p.name.endswith((".tmp", ".kraftld-tmp"))
        ]
        assert not leftovers, f"temporary files left in the cache: {leftovers}"
    runner = h.runner()
    outcome = call(["good.o", "-o", "next"], h.environ, h.next_dir, runner)
    assert (outcome.status, outcome.err, outcome.escaped) == (0, "", ""), "the next link failed"
    assert (h.next_dir / "next").read_bytes() == h.static_elf
    (h.next_dir / "next").unlink()
    (h.next_dir / "next.dbg").unlink()


def test_the_table_is_long_enough() -> None:
    assert len(CASES) >= 25
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", list(_params()))
def test_hostile_input_gives_one_clear_error(case: Case, harness: Harness) -> None:
    attempt = case.make(harness)
    cwd = attempt.cwd or harness.work
    outputs = attempt.outputs or (cwd / "app",)
    if attempt.stale:
        for output in outputs:
            output.write_text("a stale image from an earlier link")
            Path(f"{output}.dbg").write_text("its stale debug image")
    before = snapshot(harness.work)
    with pytest.MonkeyPatch.context() as mp:
        if attempt.patch is not None:
            attempt.patch(mp)
        outcome = call(attempt.args, {**harness.environ, **attempt.env}, cwd, attempt.runner or harness.runner())
    if attempt.cleanup is not None:
        attempt.cleanup()

    assert outcome.escaped == "", f"an exception escaped instead of a kraftld error:\n{outcome.escaped}"
    assert outcome.status == 1, outcome.err
    assert outcome.out == ""
    lines = outcome.err.splitlines()
    assert len(lines) >= 2, outcome.err
    assert lines[0].startswith("kraftld: error: "), outcome.err
    assert case.message.lower() in lines[0].lower(), outcome.err
    assert lines[1].startswith("hint: ") and lines[1][len("hint: ") :].strip(), outcome.err
    assert case.hint in lines[1], outcome.err
    assert sum(line.startswith("kraftld: error:") for line in lines) == 1, outcome.err
    assert "Traceback" not in outcome.err
    for output in outputs:
        assert not os.path.lexists(output), f"{output} is still there"
        assert not os.path.lexists(f"{output}.dbg"), f"{output}.dbg is still there"
    new = snapshot(harness.work) - before
    assert not new, f"the failed link left files behind: {sorted(new)}"
    assert not list(harness.tmp.rglob(f"{PWNED}*")) and not list(Path.cwd().glob(f"{PWNED}*"))
    assert_cache_usable(harness)


def test_unreadable_input_permission_denied(harness: Harness) -> None:
    if os.geteuid() == 0:
        # The table's unreadable-input case uses a symbolic-link loop instead.
        pytest.skip(f"{HOST_FACT} running as root, who reads any file")
    secret = harness.file("secret.o", harness.object_bytes)
    secret.chmod(0)
    outcome = call(["secret.o", "-o", "app"], harness.environ, harness.work, harness.runner())
    assert outcome.status == 1 and "permission denied" in outcome.err.splitlines()[0]


def test_output_that_is_also_an_input_is_never_destroyed(harness: Harness) -> None:
    original = (harness.work / "main.o").read_bytes()
    failed = call(["main.o", "-lnothere", "-o", "main.o"], harness.environ, harness.work, harness.runner())
    assert failed.status == 1
    assert (harness.work / "main.o").read_bytes() == original, "the failed link deleted its own input"
    linked = call(["main.o", "-o", "main.o"], harness.environ, harness.work, harness.runner())
    assert linked.status == 1 and "same as" in linked.err.splitlines()[0]
    assert (harness.work / "main.o").read_bytes() == original, "the link replaced its input with the image"


def test_endless_response_file_is_refused_without_exhausting_memory(tmp_path: Path) -> None:
    """`@/dev/zero` must not read forever: a 1 GiB address-space limit shows what happens."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    result = subprocess.run(
        [sys.executable, "-m", "kraftld", "@/dev/zero", "-o", str(tmp_path / "app")],
        preexec_fn=limit_memory,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KRAFTLD_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("kraftld: error: ") and "Traceback" not in result.stderr


def test_kraftfile_values_cannot_add_kconfig_lines() -> None:
    from kraftld.config import render_defconfig

    text = 'targets: [qemu/x86_64]\nenv:\n  GREETING: "hi\\nCONFIG_INJECTED=y\\nX="\n'
    try:
        kraftfile = parse_kraftfile(text, "/project/Kraftfile")
        defconfig = render_defconfig(kraftfile, kraftfile.targets[0])
    except ConfigError:
        return  # refusing the value is as good as quoting it
    assert "CONFIG_INJECTED=y" not in defconfig.splitlines(), defconfig


@pytest.mark.skipif(os.geteuid() != 0, reason="making a character device needs root")
def test_output_that_is_a_device_stays_a_device(harness: Harness) -> None:
    null = harness.work / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the same device as /dev/null
    outcome = call(["main.o", "-o", str(null)], harness.environ, harness.work, harness.runner())
    assert outcome.escaped == ""
    assert stat.S_ISCHR(os.lstat(null).st_mode), "the device node was replaced"


# --- paths are data, never code ---------------------------------------------------------


def _names(*, link: bool) -> Iterator[Any]:
    """Hostile path components: shell and make syntax that must stay text."""
    names = [
        ("make-shell-function", f"$(shell touch {PWNED}-make)"),
        ("command-substitution", f"$(touch {PWNED}-dollar)"),
        ("backticks", f"`touch {PWNED}-tick`"),
        ("semicolon", f";touch {PWNED}-semi;"),
        ("pipe", f"|touch {PWNED}-pipe|"),
        ("ampersands", f"&& touch {PWNED}-and &"),
        ("newline", f"a\ntouch {PWNED}-newline\nb"),
        ("space", "with  two spaces"),
        ("tab", "with\ttab"),
        ("hash", "hash#comment"),
        ("percent", "per%cent"),
        ("colon", "co:lon"),
        ("quotes", "quo'te\"s"),
        ("dollars", "$$HOME${HOME}$"),
        ("backslash", "back\\slash\\"),
        ("glob", "glob*?[ab]"),
        ("redirect", f"<in >{PWNED}-redirect"),
        ("comma-equals", "a,b=c"),
        ("leading-dash", "-rf"),
        ("unicode", "ünïcødé ✓"),
    ]
    for name_id, name in names:
        yield pytest.param(name, id=name_id)
    yield pytest.param(os.fsdecode(b"not-utf8-\xff\xfe"), id="not-utf8")


@dataclass(frozen=True)
class HostileLink:
    args: list[str]
    output: Path
    map_file: Path
    folder: Path


def _hostile_link(h: Harness, name: str) -> HostileLink:
    folder = h.work / f"dir {name}"
    folder.mkdir()
    obj = h.file(f"in {name}.o", h.object_bytes, folder)
    h.file(f"lib{'hostile'}.a", h.archive_bytes, folder)
    script = h.file(f"script {name}.ld", "/* an extra linker script */\n", folder)
    output = folder / f"out {name}"
    map_file = folder / f"map {name}.map"
    args = [
        str(obj),
        "-L",
        str(folder),
        "-lhostile",
        "-T",
        str(script),
        "-Xlinker",
        "-Map",
        "-Xlinker",
        str(map_file),
        "-o",
        str(output),
    ]
    return HostileLink(args, output, map_file, folder)


def _assert_nothing_ran(h: Harness) -> None:
    assert not [p for p in h.tmp.rglob("*") if p.name.startswith(PWNED)]
    assert not list(Path.cwd().glob(f"{PWNED}*"))


def _assert_plain_make_words(argv: tuple[str, ...], name: str) -> None:
    for word in argv:
        if word.startswith(("UK_LDFLAGS=", "UK_LDEPS=", "CC=")):
            key, _, value = word.partition("=")
            words = value.split(" ")
            assert all(words), f"{key} has an empty word: {value!r}"
            for part in words:
                assert PLAIN_WORD.match(part), f"{key} word {part!r} is not plain"
        else:
            assert PLAIN_WORD.match(word), f"make argument {word!r} is not plain"
        if not PLAIN_WORD.match(name):
            assert name not in word


def _assert_no_shell(commands: list[Command]) -> None:
    assert commands
    for command in commands:
        assert isinstance(command.argv, tuple) and command.argv, command
        assert all(isinstance(word, str) for word in command.argv), command
        program = os.path.basename(command.argv[0])
        assert program not in SHELLS, f"a command runs through a shell: {command.argv}"
        if "-c" in command.argv:
            # gcc -c compiles kraftld's runtime object; no other command takes -c.
            assert program == "gcc" and command.argv[-1].endswith("kraftld_runtime.c"), command.argv


@pytest.mark.parametrize("name", list(_names(link=False)))
def test_hostile_paths_in_a_dry_run_stay_data(name: str, harness: Harness) -> None:
    link = _hostile_link(harness, name)
    outcome = call(link.args, {**harness.environ, "KRAFTLD_DRY_RUN": "1"}, harness.work, harness.runner())
    assert (outcome.status, outcome.err, outcome.escaped) == (0, "", "")
    (build_line,) = [line.strip() for line in outcome.out.splitlines() if "UK_LDFLAGS=" in line]
    argv = tuple(shlex.split(build_line))
    assert argv[0] == "make"
    _assert_plain_make_words(argv, name)
    assert not os.path.lexists(link.output), "a dry run builds nothing"
    _assert_nothing_ran(harness)


@pytest.mark.parametrize("name", list(_names(link=True)))
def test_hostile_paths_link_and_stay_data(name: str, harness: Harness) -> None:
    link = _hostile_link(harness, name)
    runner = SideOutputRunner(image_bytes=harness.static_elf)
    outcome = call(link.args, harness.environ, harness.work, runner)
    assert (outcome.status, outcome.err, outcome.escaped) == (0, "", "")
    assert link.output.read_bytes() == harness.static_elf
    assert Path(f"{link.output}.dbg").read_bytes() == harness.static_elf
    assert link.map_file.read_text() == "link map\n", "the -Map file reaches its hostile path"
    (build,) = [c for c in runner.makes() if "defconfig" not in c.argv]
    _assert_plain_make_words(build.argv, name)
    staged = [w for w in _make_words(build.argv, "UK_LDFLAGS=") if "/inputs/" in w]
    assert len(staged) == 3, staged  # the object, the archive and the script, each under a plain name
    for command in runner.commands:
        assert command.cwd is None or PLAIN_WORD.match(command.cwd)
    _assert_no_shell(runner.commands)
    leftovers = [n for n in os.listdir(link.folder) if n.startswith(".")]
    assert not leftovers, f"temporary files left beside the output: {leftovers}"
    _assert_nothing_ran(harness)


def test_output_with_non_utf8_name_links(harness: Harness) -> None:
    output = harness.work / os.fsdecode(b"image-\xff\xfe")
    outcome = call(["main.o", "-o", str(output)], harness.environ, harness.work, harness.runner())
    assert (outcome.status, outcome.err, outcome.escaped) == (0, "", "")
    assert output.read_bytes() == harness.static_elf


def test_output_with_a_long_valid_name_links(harness: Harness) -> None:
    output = harness.work / ("n" * 250)
    outcome = call(["main.o", "-o", str(output)], harness.environ, harness.work, harness.runner())
    assert outcome.escaped == "", outcome.escaped
    assert outcome.status == 0 and output.read_bytes() == harness.static_elf


def test_real_runner_never_uses_a_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """run_process hands argv to the kernel as a list: shell syntax in it is text."""
    seen: list[dict[str, Any]] = []
    real_popen = subprocess.Popen

    def recording_popen(*args: Any, **kwargs: Any) -> Any:
        seen.append({"args": args, **kwargs})
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    marker = tmp_path / PWNED
    hostile = [f"$(touch {marker})", f"`touch {marker}`", f"; touch {marker}", f"| touch {marker}", "a\nb"]
    script = "import sys; print(repr(sys.argv[1:]))"
    completed = run_process(Command((sys.executable, "-c", script, *hostile), cwd=str(tmp_path)))
    assert completed.returncode == 0
    assert completed.tail == (repr(hostile),)
    assert not marker.exists()
    (call_kwargs,) = seen
    assert not call_kwargs.get("shell", False)
    assert isinstance(call_kwargs["args"][0], (tuple, list))
    missing = run_process(Command(("kraftld-no-such-program", "x")))
    assert missing.returncode == 127


@pytest.mark.parametrize(
    "name", ["two\nlines.o", "x.o\nhint: nothing is wrong", "carriage\rreturn.o"], ids=["newline", "fake-hint", "cr"]
)
def test_error_stays_one_line_for_names_with_line_breaks(name: str, harness: Harness) -> None:
    outcome = call([name, "-o", "app"], harness.environ, harness.work, harness.runner())
    assert outcome.status == 1
    lines = outcome.err.split("\n")
    assert lines[0].startswith("kraftld: error: ") and "\r" not in lines[0]
    assert lines[1].startswith("hint: ")
    assert sum(line.startswith("hint: ") for line in lines) == 1
