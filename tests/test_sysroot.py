"""kraftld-sysroot's unit layer: the toolchain found, the cargo command, the sysroot laid out and reused."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from kraftld import sysroot, sysroot_cli
from kraftld.process import Command, Completed

VERSION = "rustc 1.96.0 (ac68faa20 2026-05-25)\nbinary: rustc\nhost: x86_64-unknown-linux-gnu\nrelease: 1.96.0\n"


class FakeToolchain:
    """rustc answers -vV and --print sysroot; cargo 'builds' std by writing rlibs where cargo would."""

    def __init__(self, root: Path, *, fail: bool = False) -> None:
        self.root = root
        self.fail = fail
        self.builds: list[Command] = []
        self.configs: list[str] = []

    def __call__(
        self, command: Command, *, log_file: IO[str] | None = None, on_line: Callable[[str], None] | None = None
    ) -> Completed:
        argv = command.argv
        if argv[1:] == ("-vV",):
            return Completed(command, 0, tuple(VERSION.splitlines()))
        if argv[1:] == ("--print", "sysroot"):
            return Completed(command, 0, (str(self.root),))
        assert argv[1] == "build", argv
        self.builds.append(command)
        assert command.cwd is not None
        self.configs.append((Path(command.cwd) / ".cargo" / "config.toml").read_text())
        if self.fail:
            return Completed(command, 101, ("error: no matching package named `compiler_builtins`",))
        assert command.env is not None
        deps = Path(command.env["CARGO_TARGET_DIR"]) / sysroot.TARGET / "release" / "deps"
        deps.mkdir(parents=True)
        for name in (
            "libstd-1a.rlib",
            "libcore-2b.rlib",
            "libpanic_abort-3c.rlib",
            f"lib{sysroot.DUMMY_CRATE}-4d.rlib",
        ):
            (deps / name).write_bytes(b"!<arch>\n")
        (deps / "libstd-1a.rmeta").write_bytes(b"")
        return Completed(command, 0)


@pytest.fixture
def toolchain_root(tmp_path: Path) -> Path:
    root = tmp_path / "toolchain"
    (root / "lib" / "rustlib" / "src" / "rust" / "library" / "std").mkdir(parents=True)
    (root / "lib" / "rustlib" / "src" / "rust" / "library" / "vendor").mkdir()
    (root / "lib" / "rustlib" / "x86_64-unknown-linux-gnu" / "lib").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "bin" / "cargo").write_text("")
    return root


def run(args: list[str], environ: dict[str, str], runner: FakeToolchain) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = sysroot_cli.main(args, environ=environ, runner=runner, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_builds_std_once_and_lays_out_a_sysroot(tmp_path: Path, toolchain_root: Path) -> None:
    runner = FakeToolchain(toolchain_root)
    environ = {"KRAFTLD_CACHE": str(tmp_path / "cache"), "RUSTFLAGS": "-C target-cpu=native"}
    status, out, err = run(["--rustc", "rustc"], environ, runner)
    assert status == 0, err
    path = Path(out.strip())
    target_lib = path / "lib" / "rustlib" / sysroot.TARGET / "lib"
    assert sorted(os.listdir(target_lib)) == ["libcore-2b.rlib", "libpanic_abort-3c.rlib", "libstd-1a.rlib"]
    assert (path / "lib" / "rustlib" / "x86_64-unknown-linux-gnu").resolve() == (
        toolchain_root / "lib" / "rustlib" / "x86_64-unknown-linux-gnu"
    )
    (build,) = runner.builds
    assert build.argv[0] == str(toolchain_root / "bin" / "cargo")  # the cargo beside that rustc
    assert "-Zbuild-std=std,panic_abort" in build.argv and "--offline" in build.argv
    assert build.env is not None and build.env["RUSTC_BOOTSTRAP"] == "1" and "RUSTFLAGS" not in build.env
    assert 'replace-with = "kraftld-vendored-std"' in runner.configs[0]
    assert "-rustc-1.96.0-" in path.name
    # The second call finds it in the cache and builds nothing, and marks it used (the cache bound
    # removes the least recently used: cache_prune).
    os.utime(path / sysroot.RECORD, ns=(10**9, 10**9))
    status, again, _ = run(["--rustc", "rustc"], environ, runner)
    assert (status, again, len(runner.builds)) == (0, out, 1)
    assert (path / sysroot.RECORD).stat().st_mtime > 1
    assert not list(path.parent.glob("*.partial"))


def test_a_failed_std_build_is_an_error_and_leaves_no_sysroot(tmp_path: Path, toolchain_root: Path) -> None:
    runner = FakeToolchain(toolchain_root, fail=True)
    status, out, err = run(["--rustc", "rustc"], {"KRAFTLD_CACHE": str(tmp_path / "cache")}, runner)
    assert (status, out) == (1, "")
    assert err.splitlines()[1].startswith("kraftld-sysroot: error: building std for x86_64-unikraft-linux-musl")
    assert "compiler_builtins" in err
    assert not [p for p in (tmp_path / "cache" / "sysroot").iterdir() if sysroot.installed(str(p))]


def test_a_toolchain_without_std_sources_is_an_error_with_a_hint(tmp_path: Path, toolchain_root: Path) -> None:
    (toolchain_root / "lib" / "rustlib" / "src" / "rust" / "library" / "std").rmdir()
    status, _, err = run(
        ["--rustc", "rustc"], {"KRAFTLD_CACHE": str(tmp_path / "cache")}, FakeToolchain(toolchain_root)
    )
    assert status == 1
    assert "has no std sources" in err and "hint: install them" in err


def test_no_vendor_folder_means_crates_io_online() -> None:
    assert sysroot.cargo_config(None) == ""
    toolchain = sysroot.Toolchain("rustc", "cargo", VERSION, "x86_64-unknown-linux-gnu", "/opt/rust", None)
    command = sysroot.build_command("/work", toolchain, {}, sysroot.TARGET)
    assert "--offline" not in command.argv


def test_the_sysroot_is_keyed_by_the_full_rustc_version(tmp_path: Path) -> None:
    one = sysroot.Toolchain("rustc", "cargo", VERSION, "h", "/r", None)
    other = sysroot.Toolchain("rustc", "cargo", VERSION.replace("ac68faa20", "0000000"), "h", "/r", None)
    assert sysroot.sysroot_path(str(tmp_path), one) != sysroot.sysroot_path(str(tmp_path), other)
