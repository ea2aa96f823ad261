"""Helpers the tests share: fixture link lines made real, and a fake runner for the unit layer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from kraftld.process import Command, Completed, run_process

FIXTURES = Path(__file__).parent / "fixtures"
# A skip whose reason starts with this is a fact of the host that CI cannot change (such as
# running as root); with KRAFTLD_TEST_NO_SKIPS=1 (set by .ci/run) any other skip fails the run.
HOST_FACT = "host fact:"
ROOT = "root"  # absolute paths in fixtures move under tmp_path/root


def read_args(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


@dataclass
class RealLine:
    """A fixture link line with every path moved under a temporary folder and made real."""

    args: list[str]
    cwd: Path
    root: Path


def looks_like_input(arg: str) -> bool:
    return not arg.startswith("-") and arg.endswith((".o", ".rlib", ".a"))


def relocate(arg: str, root: Path) -> str:
    return str(root / arg.lstrip("/")) if arg.startswith("/") else arg


@dataclass
class FakeRunner:
    """Records commands; `make` without a goal writes an image as Unikraft's would."""

    commands: list[Command] = field(default_factory=list)
    fail_build: bool = False
    image_name: str = "app_qemu-x86_64"
    image_bytes: bytes = b""

    def __call__(
        self, command: Command, *, log_file: IO[str] | None = None, on_line: Callable[[str], None] | None = None
    ) -> Completed:
        self.commands.append(command)
        argv = command.argv
        if argv[0] == "gcc":
            out = argv[argv.index("-o") + 1]
            Path(out).write_bytes(self.image_bytes)
            return Completed(command, 0)
        if argv[0] == "ar":  # the library selection reads the test's real archives
            return run_process(command, log_file=log_file, on_line=on_line)
        if argv[0] == "git":
            return Completed(command, 0, ("0123456789abcdef0123456789abcdef01234567",))
        if argv[0] == "make" and "defconfig" in argv:
            config = next(a[2:] for a in argv if a.startswith("C="))
            Path(config).write_text("CONFIG_PLAT_KVM=y\n")
            return Completed(command, 0)
        if argv[0] == "make":
            if on_line:
                on_line("  LD      app_qemu-x86_64.dbg\n")
            if self.fail_build:
                return Completed(
                    command, 2, ("app.o: in function `main':", "undefined reference to `missing_function'")
                )
            build = Path(next(a[2:] for a in argv if a.startswith("O=")))
            build.mkdir(parents=True, exist_ok=True)
            (build / self.image_name).write_bytes(self.image_bytes)
            (build / f"{self.image_name}.dbg").write_bytes(self.image_bytes)
            return Completed(command, 0)
        raise AssertionError(f"unexpected command {argv}")

    def makes(self) -> list[Command]:
        return [c for c in self.commands if c.argv[0] == "make"]
