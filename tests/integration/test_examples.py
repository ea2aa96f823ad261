"""The examples work as the README says: the C one with make, the no_std Rust one with cargo."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from realboot import Tools

EXAMPLES = Path(__file__).parent.parent.parent / "examples"


def test_c_example(tools: Tools, tmp_path: Path) -> None:
    example = tmp_path / "c"
    shutil.copytree(EXAMPLES / "c", example)
    result = subprocess.run(
        ["make", "-s", "-C", str(example), "run", "ARGS=one two"],
        env=tools.environ,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("argument 1: one\n  argument 2: two\n")
    status = subprocess.run(
        ["kraftld-run", str(example / "hello"), "exit", "42"], env=tools.environ, capture_output=True, timeout=120
    )
    assert status.returncode == 42


def test_rust_nostd_example_cargo_run_and_test(tools: Tools, tmp_path: Path) -> None:
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.skip("cargo (rustup's, for the host target) is not installed")
    example = tmp_path / "rust-nostd"
    shutil.copytree(EXAMPLES / "rust-nostd", example, ignore=shutil.ignore_patterns("target"))
    run = subprocess.run(
        [cargo, "run", "-q", "--", "exit", "7"],
        cwd=example,
        env=tools.environ,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.stdout == "Hello from no_std Rust in a Unikraft unikernel!\n  argument 1: exit\n  argument 2: 7\n", (
        run.stderr
    )
    assert run.returncode == 7
    test = subprocess.run([cargo, "test"], cwd=example, env=tools.environ, capture_output=True, text=True, timeout=900)
    assert test.returncode == 0, test.stderr
    assert "smoke test: ok" in test.stdout
