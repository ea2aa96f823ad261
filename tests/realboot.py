"""Running the real tools from tests: kraftld and kraftld-run as subprocesses, gcc for objects."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PROGRAMS = Path(__file__).parent / "programs"
TARGET = "x86_64-unikraft-linux-musl"

# lib-musl, a RAM root and main in a thread: the Kraftfile of the C and Rust probes of memory,
# stacks and files (one Unikraft build for both).
PROBE_KRAFTFILE = """spec: v0.6
name: probe
unikraft:
  version: stable
  kconfig:
    CONFIG_LIBVFSCORE: y
    CONFIG_LIBRAMFS: y
    CONFIG_LIBVFSCORE_AUTOMOUNT_CI: y
    CONFIG_LIBVFSCORE_AUTOMOUNT_CI_RAMFS: y
    CONFIG_LIBUKBOOT_MAINTHREAD: y
libraries:
  musl:
    version: stable
targets:
  - qemu/x86_64
"""


@dataclass(frozen=True)
class Tools:
    environ: dict[str, str]  # KRAFTLD_* for the tree and cache, and PATH with `bin` first
    work: Path
    bin: Path  # `kraftld` and `kraftld-run` of this checkout, for compilers that call them by name

    def from_mirror(self, sources: str) -> Tools:
        """These tools with Unikraft and its libraries taken from a mirror (KRAFTLD_SOURCES) rather
        than the test tree: the build is then the mirror's, lib-musl and all."""
        environ = {k: v for k, v in self.environ.items() if k != "KRAFTLD_UNIKRAFT"}
        return Tools({**environ, "KRAFTLD_SOURCES": sources}, self.work, self.bin)

    def kraftld(
        self,
        args: Sequence[str],
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "kraftld", *args],
            cwd=cwd or self.work,
            env={**self.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kraftld failed ({result.returncode}):\n{result.stderr}")
        return result

    def run(
        self, image: Path, args: Sequence[str] = (), env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "kraftld.run", str(image), *args],
            env={**self.environ, **(env or {})},
            capture_output=True,
            timeout=timeout,
        )

    def compile_c(self, source: Path, output: Path, *defines: str) -> Path:
        subprocess.run(
            ["gcc", "-c", "-O2", "-fno-pic", "-fno-stack-protector", *defines, "-o", str(output), str(source)],
            check=True,
        )
        return output


def toolchain() -> tuple[str, str, str | None] | str:
    """(cargo, rustc, vendor folder or None), or why there is none."""
    cargo = os.environ.get("KRAFTLD_TEST_RUST_STD_CARGO", "/usr/bin/cargo")
    rustc = os.environ.get("KRAFTLD_TEST_RUST_STD_RUSTC", "/usr/bin/rustc")
    if not (os.access(cargo, os.X_OK) and os.access(rustc, os.X_OK)):
        return (
            f"no toolchain for {TARGET}: install Debian's rustc-web cargo-web rust-web-src, "
            "or set KRAFTLD_TEST_RUST_STD_CARGO and KRAFTLD_TEST_RUST_STD_RUSTC"
        )
    targets = subprocess.run([rustc, "--print", "target-list"], capture_output=True, text=True).stdout.split()
    if TARGET not in targets:
        return f"{rustc} does not know {TARGET}"
    vendors = sorted(glob.glob("/usr/src/rustc-*/library/vendor"))
    return cargo, rustc, (vendors[-1] if vendors else None)


def no_network_prefix() -> list[str]:
    """`unshare -n` where this machine allows it: the build then provably has no network."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-n"]
    return []
