"""Rust std on Unikraft, end to end: the rust-std example built by cargo for the Unikraft target
with lib-musl, offline, linked by kraftld and booted by kraftld-run.

Needs KRAFTLD_TEST_SOURCES (an offline mirror: unikraft/, lib-musl/, archives/musl-1.2.3.tar.gz)
and a toolchain that builds std for x86_64-unikraft-linux-musl: Debian's rustc-web, cargo-web and
rust-web-src (found at /usr/bin, with the vendored std crates under /usr/src/rustc-*/), or
KRAFTLD_TEST_RUST_STD_CARGO / KRAFTLD_TEST_RUST_STD_RUSTC naming another (nightly with rust-src).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from realboot import TARGET, Tools, no_network_prefix, toolchain

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "rust-std"


@pytest.fixture(scope="module")
def project(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], list[str], str]:
    sources = os.environ.get("KRAFTLD_TEST_SOURCES")
    if not sources:
        pytest.skip(
            "set KRAFTLD_TEST_SOURCES to an offline mirror with unikraft/, lib-musl/ and archives/musl-1.2.3.tar.gz"
        )
    found = toolchain()
    if isinstance(found, str):
        pytest.skip(found)
    cargo, rustc, vendor = found
    folder = tmp_path_factory.mktemp("rust-std") / "rust-std"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("target"))
    if vendor:
        with open(folder / ".cargo" / "config.toml", "a") as config:
            config.write('\n[source.crates-io]\nreplace-with = "vendored-std"\n')
            config.write(f'\n[source.vendored-std]\ndirectory = "{vendor}"\n')
    environ = {k: v for k, v in tools.environ.items() if k != "KRAFTLD_UNIKRAFT"}
    rustdoc = os.path.join(os.path.dirname(rustc), "rustdoc")
    environ.update({"KRAFTLD_SOURCES": sources, "RUSTC": rustc, "RUSTDOC": rustdoc, "RUSTC_BOOTSTRAP": "1"})
    return folder, environ, [*no_network_prefix(), cargo], rustc


def cargo(project: tuple[Path, dict[str, str], list[str], str], *args: str) -> subprocess.CompletedProcess[str]:
    folder, environ, command, _ = project
    return subprocess.run(
        [*command, *args, "--offline"], cwd=folder, env=environ, capture_output=True, text=True, timeout=3000
    )


def test_std_program_end_to_end(tools: Tools, project: tuple[Path, dict[str, str], list[str], str]) -> None:
    folder = project[0]
    started = time.monotonic()
    build = cargo(project, "build")
    assert build.returncode == 0, build.stderr[-3000:]
    first_build = time.monotonic() - started
    image = folder / "target" / TARGET / "debug" / "hello"
    started = time.monotonic()
    result = tools.run(image, ["first", "second arg"])
    boot = time.monotonic() - started
    out = result.stdout.decode()
    assert out.splitlines() == [
        "Hello from Rust std in a Unikraft unikernel!",
        'arguments: ["first", "second arg"]',
        "GREETING=hello from the Kraftfile",
        "'the' appears 3 times among 10 distinct words",
        "4 distinct word lengths",
        "file: written and read back inside the unikernel",
        "20! from another thread = 2432902008176640000",
        "this line went to stderr",
        "the clock moved: true",
    ]
    assert result.returncode == 3

    panicked = tools.run(image, ["panic"])
    assert panicked.returncode == 134
    assert (
        "panicked at src/main.rs" in panicked.stdout.decode()
        and "asked to panic with 1 argument(s)" in panicked.stdout.decode()
    )
    assert "crashed" in panicked.stderr.decode()

    second = tools.run(folder / "target" / TARGET / "debug" / "second", ["x"])
    assert (second.stdout.decode(), second.returncode) == ('second binary, arguments: ["x"]\n', 7)

    main_rs = folder / "src" / "main.rs"
    main_rs.write_text(main_rs.read_text().replace("process::exit(3)", "process::exit(4)"))
    started = time.monotonic()
    rebuild = cargo(project, "build", "--bin", "hello")
    relink = time.monotonic() - started
    assert rebuild.returncode == 0, rebuild.stderr[-3000:]
    assert tools.run(image).returncode == 4
    print(f"first cargo build {first_build:.1f} s, rebuild after editing main.rs {relink:.1f} s, boot {boot:.2f} s")


def test_cargo_test_links_in_parallel_and_each_image_boots(
    tools: Tools, project: tuple[Path, dict[str, str], list[str], str]
) -> None:
    folder = project[0]
    build = cargo(project, "test", "--no-run")
    assert build.returncode == 0, build.stderr[-3000:]
    executables = [line.split("(")[-1].rstrip(")") for line in build.stderr.splitlines() if "Executable" in line]
    assert len(executables) == 4
    for executable in executables:
        result = tools.run(folder / executable, timeout=300)
        assert result.returncode == 0, result.stdout
        assert b"test result: ok." in result.stdout
    run = cargo(project, "test")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("test result: ok.") == 4
