"""Rust std on the kit's Unikraft: many small Boxes, Vecs and Strings at the runner's default memory,
thread stacks as std asks for them, and std::fs as on Linux (tests/programs/rustprobe.rs), built by
cargo for the Unikraft target, linked by kraftld, booted by kraftld-run as cargo's runner.

Needs KRAFTLD_TEST_SOURCES and the toolchain test_rust_std.py needs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from realboot import PROBE_KRAFTFILE, PROGRAMS, TARGET, Tools, no_network_prefix, toolchain

CARGO_CONFIG = """[build]
target = "x86_64-unikraft-linux-musl"

[unstable]
build-std = ["std", "panic_abort"]

[target.x86_64-unikraft-linux-musl]
runner = "kraftld-run"
"""


def test_rust_small_allocations_stacks_and_files(tools: Tools, tmp_path: Path) -> None:
    sources = os.environ.get("KRAFTLD_TEST_SOURCES")
    if not sources:
        pytest.skip("set KRAFTLD_TEST_SOURCES to an offline mirror with lib-musl and archives/musl-1.2.3.tar.gz")
    found = toolchain()
    if isinstance(found, str):
        pytest.skip(found)
    cargo, rustc, vendor = found
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.rs").write_text((PROGRAMS / "rustprobe.rs").read_text())
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "rustprobe"\nversion = "0.1.0"\nedition = "2021"\n')
    (tmp_path / "Kraftfile").write_text(PROBE_KRAFTFILE)  # the C probe's: one Unikraft build for both
    config = CARGO_CONFIG
    if vendor:
        config += (
            f'\n[source.crates-io]\nreplace-with = "vendored-std"\n\n[source.vendored-std]\ndirectory = "{vendor}"\n'
        )
    (tmp_path / ".cargo").mkdir()
    (tmp_path / ".cargo" / "config.toml").write_text(config)
    environ = {**tools.from_mirror(sources).environ, "RUSTC": rustc, "RUSTC_BOOTSTRAP": "1"}
    result = subprocess.run(
        [*no_network_prefix(), cargo, "run", "--offline", "-q"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=3000,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == [
        # 800,000 live allocations: Unikraft's page allocator held 27,000 in 128 MiB
        "small allocations: 200000 boxes, 200000 vecs, 200000 strings, 200000 map entries",
        "default thread recursed through 1.5 MiB: true",  # std's 2 MiB default
        "9 MiB thread recursed through 8 MiB: true",  # Builder::stack_size honoured
        "remove_dir_all: Ok(())",
        'open(""): Some(NotFound)',
        "hard_link: Some(Some(1))",  # EPERM: ramfs has no hard links
    ]
    assert (tmp_path / "target" / TARGET / "debug" / "rustprobe").is_file()
    for argument, report in [
        ("overflow", "kraftld: a thread overflowed its stack of 2050 KiB (stack overflow)"),  # std's 2 MiB
        ("runaway-thread", "kraftld: a thread overflowed its stack of 2050 KiB (stack overflow)"),
        ("runaway-main", "kraftld: main overflowed its stack of 4096 KiB (stack overflow)"),
    ]:
        # Before, main's ended in "Unhandled Trap 6 (invalid opcode)"; a thread's only when it returned.
        overflow = subprocess.run(
            [*no_network_prefix(), cargo, "run", "--offline", "-q", "--", argument],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert overflow.returncode == 134, overflow.stdout + overflow.stderr[-2000:]
        lines = overflow.stdout.splitlines()
        assert lines[-1].startswith(report), lines
        assert not any(word in overflow.stdout for word in ("joined", "returned", "Unhandled Trap")), lines
