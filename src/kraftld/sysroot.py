"""Builds Rust's std for the Unikraft target once and installs it as a rustc sysroot in the cache.

The target `x86_64-unikraft-linux-musl` is tier 3: rustc ships no std for it, and plain rustc
cannot build one. cargo can (`-Zbuild-std`), so kraftld builds std once with cargo for a dummy
crate, copies the rlibs cargo made into `<sysroot>/lib/rustlib/<target>/lib`, and links the
toolchain's own host libraries beside them (`lib/rustlib/<host>`), so the sysroot serves proc
macros and build scripts too. The sysroot is keyed by `rustc -vV`: an rlib is only readable by
the exact rustc that wrote it.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .commands import Command, describe_failure
from .errors import ToolchainError
from .layout import CacheLayout

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from .commands import LineSink, ProcessRunner

TARGET = "x86_64-unikraft-linux-musl"
# The std crates a program on the target links (the target's panic strategy is abort).
BUILD_STD = "std,panic_abort"
DUMMY_CRATE = "kraftld_sysroot_std"
RECORD = "kraftld-sysroot.json"

# Variables of the caller's that would change how cargo builds std; the sysroot must not
# depend on them (it is shared by every later link keyed only by the rustc version).
_UNWANTED = ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET")


@dataclass(frozen=True)
class Toolchain:
    rustc: str
    cargo: str
    version: str  # the full `rustc -vV` text
    host: str
    rustc_sysroot: str  # `rustc --print sysroot`
    vendor: str | None  # the std crates' dependencies shipped with the sources (Debian), if any

    @property
    def release(self) -> str:
        return _field(self.version, "release") or "unknown"


def _field(version: str, name: str) -> str | None:
    for line in version.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == name:
            return value.strip()
    return None


def find_toolchain(rustc: str, cargo: str | None, runner: ProcessRunner) -> Toolchain:
    """The toolchain `rustc` belongs to; `cargo` by default is the one installed beside it."""
    completed = runner(Command((rustc, "-vV")))
    host = _field("\n".join(completed.tail), "host")
    if completed.returncode != 0 or host is None:
        raise ToolchainError(
            f"cannot ask {rustc} for its version",
            "install Rust (rustc and cargo), or name the compiler with --rustc",
            details=describe_failure(completed),
        )
    version = "\n".join(completed.tail).strip()
    printed = runner(Command((rustc, "--print", "sysroot")))
    if printed.returncode != 0 or not printed.tail:
        raise ToolchainError(f"{rustc} does not print its sysroot", "check the Rust installation")
    rustc_sysroot = printed.tail[-1].strip()
    if cargo is None:
        beside = os.path.join(rustc_sysroot, "bin", "cargo")
        cargo = beside if os.path.isfile(beside) else "cargo"
    library = os.path.join(rustc_sysroot, "lib", "rustlib", "src", "rust", "library")
    if not os.path.isdir(os.path.join(library, "std")):
        raise ToolchainError(
            f"the Rust toolchain at {rustc_sysroot} has no std sources ({library})",
            "install them (`rustup component add rust-src`), or use Debian's rustc-web with rust-web-src: "
            "kraftld-sysroot --rustc /usr/bin/rustc",
        )
    vendor = os.path.join(library, "vendor")
    return Toolchain(rustc, cargo, version, host, rustc_sysroot, vendor if os.path.isdir(vendor) else None)


def sysroot_path(cache: str, toolchain: Toolchain, target: str = TARGET) -> str:
    digest = hashlib.sha256(f"{toolchain.version}\0{target}\0{BUILD_STD}".encode()).hexdigest()[:16]
    return CacheLayout(cache).sysroot(f"{target}-rustc-{toolchain.release}-{digest}")


def installed(path: str) -> bool:
    """A sysroot is complete once its record is written, which happens last."""
    return os.path.isfile(os.path.join(path, RECORD))


def ensure_sysroot(
    cache: str,
    toolchain: Toolchain,
    runner: ProcessRunner,
    environ: Mapping[str, str],
    *,
    target: str = TARGET,
    on_line: LineSink | None = None,
) -> str:
    """The sysroot's path, building it first unless it is already in the cache."""
    path = sysroot_path(cache, toolchain, target)
    if installed(path):
        _touch(path)
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with _locked(path + ".lock"):
        if installed(path):  # another kraftld-sysroot built it while this one waited
            return path
        work = path + ".partial"
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        rlibs = _build_std(work, toolchain, runner, environ, target, on_line)
        _install(work, rlibs, toolchain, target)
        shutil.rmtree(path, ignore_errors=True)
        os.rename(os.path.join(work, "sysroot"), path)
        shutil.rmtree(work, ignore_errors=True)
    return path


def _touch(path: str) -> None:
    """Mark the sysroot used now: the cache's bound removes the least recently used (cache_prune)."""
    with contextlib.suppress(OSError):
        os.utime(os.path.join(path, RECORD))


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def cargo_config(vendor: str | None) -> str:
    """The dummy crate's cargo configuration: crates.io replaced by the shipped crates, if any."""
    if vendor is None:
        return ""
    return (
        '[source.crates-io]\nreplace-with = "kraftld-vendored-std"\n\n'
        f"[source.kraftld-vendored-std]\ndirectory = {json.dumps(vendor)}\n"
    )


def build_command(work: str, toolchain: Toolchain, environ: Mapping[str, str], target: str) -> Command:
    env = {k: v for k, v in environ.items() if k not in _UNWANTED}
    # -Zbuild-std is unstable: a stable or distribution rustc allows it with RUSTC_BOOTSTRAP.
    env.update({"RUSTC": toolchain.rustc, "RUSTC_BOOTSTRAP": "1", "CARGO_TARGET_DIR": os.path.join(work, "target")})
    argv = [toolchain.cargo, "build", "--release", "--target", target, f"-Zbuild-std={BUILD_STD}"]
    if toolchain.vendor is not None:
        argv.append("--offline")
    return Command(tuple(argv), cwd=os.path.join(work, "crate"), env=env)


def _build_std(
    work: str,
    toolchain: Toolchain,
    runner: ProcessRunner,
    environ: Mapping[str, str],
    target: str,
    on_line: LineSink | None,
) -> list[str]:
    crate = os.path.join(work, "crate")
    os.makedirs(os.path.join(crate, ".cargo"))
    with open(os.path.join(crate, "Cargo.toml"), "w", encoding="utf-8") as handle:
        handle.write(
            f'[package]\nname = "{DUMMY_CRATE}"\nversion = "0.0.0"\nedition = "2021"\n\n'
            '[lib]\npath = "lib.rs"\n\n[profile.release]\npanic = "abort"\n'
        )
    with open(os.path.join(crate, "lib.rs"), "w", encoding="utf-8") as handle:
        handle.write("// Empty: cargo builds std for it, and std is what kraftld-sysroot keeps.\n")
    with open(os.path.join(crate, ".cargo", "config.toml"), "w", encoding="utf-8") as handle:
        handle.write(cargo_config(toolchain.vendor))
    command = build_command(work, toolchain, environ, target)
    with open(os.path.join(work, "build.log"), "w+", encoding="utf-8") as log_file:
        completed = runner(command, log_file=log_file, on_line=on_line)
    if completed.returncode != 0:
        raise ToolchainError(
            f"building std for {target} with {toolchain.cargo} failed",
            "a nightly toolchain needs rust-src and crates.io; Debian's needs rust-web-src (see the README)",
            details=describe_failure(completed),
        )
    deps = os.path.join(work, "target", target, "release", "deps")
    rlibs = sorted(
        p for p in glob.glob(os.path.join(deps, "*.rlib")) if not os.path.basename(p).startswith(f"lib{DUMMY_CRATE}-")
    )
    if not any(os.path.basename(p).startswith("libstd-") for p in rlibs):
        raise ToolchainError(
            f"cargo built no std for {target} (nothing in {deps})", "run with -v to see cargo's output"
        )
    return rlibs


def _install(work: str, rlibs: list[str], toolchain: Toolchain, target: str) -> None:
    root = os.path.join(work, "sysroot")
    target_lib = os.path.join(root, "lib", "rustlib", target, "lib")
    os.makedirs(target_lib)
    for rlib in rlibs:
        shutil.copy2(rlib, target_lib)
    # rustc looks for the host's libraries (proc macros, build scripts) in the same sysroot.
    host = os.path.join(toolchain.rustc_sysroot, "lib", "rustlib", toolchain.host)
    if os.path.isdir(host):
        os.symlink(host, os.path.join(root, "lib", "rustlib", toolchain.host))
    record = {"rustc": toolchain.rustc, "version": toolchain.version, "target": target, "build_std": BUILD_STD}
    with open(os.path.join(root, RECORD), "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1)
