"""Rust std on Unikraft, end to end: the rust-std example built by cargo for the Unikraft target
with lib-musl, offline, linked by kraftld and booted by kraftld-run.

Needs KRAFTLD_TEST_SOURCES (an offline mirror: unikraft/, lib-musl/, archives/musl-1.2.3.tar.gz)
and a toolchain that builds std for x86_64-unikraft-linux-musl: Debian's rustc-web, cargo-web and
rust-web-src (found at /usr/bin, with the vendored std crates under /usr/src/rustc-*/), or
KRAFTLD_TEST_RUST_STD_CARGO / KRAFTLD_TEST_RUST_STD_RUSTC naming another (nightly with rust-src).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from realboot import PROGRAMS, TARGET, Tools, no_network_prefix, toolchain

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
    rustdoc = os.path.join(os.path.dirname(rustc), "rustdoc")
    environ = {**tools.from_mirror(sources).environ, "RUSTC": rustc, "RUSTDOC": rustdoc, "RUSTC_BOOTSTRAP": "1"}
    return folder, environ, [*no_network_prefix(), cargo], rustc


def cargo(project: tuple[Path, dict[str, str], list[str], str], *args: str) -> subprocess.CompletedProcess[str]:
    folder, environ, command, _ = project
    words = list(args)
    # --offline is cargo's: before a `--`, after which the words are the test binaries'.
    words.insert(words.index("--") if "--" in words else len(words), "--offline")
    return subprocess.run([*command, *words], cwd=folder, env=environ, capture_output=True, text=True, timeout=3000)


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
        "the clock moved: true",
    ]
    assert result.stderr == b"this line went to stderr\n"  # eprintln!: the guest's fd 2, apart
    assert result.returncode == 3

    panicked = tools.run(image, ["panic"])
    assert panicked.returncode == 134
    # std's panic message goes to stderr, as on Linux; then the runner's own line.
    assert (
        "panicked at src/main.rs" in panicked.stderr.decode()
        and "asked to panic with 1 argument(s)" in panicked.stderr.decode()
    )
    assert "panicked" not in panicked.stdout.decode()
    assert "crashed" in panicked.stderr.decode().splitlines()[-1]

    second = tools.run(folder / "target" / TARGET / "debug" / "second", ["x"])
    assert (second.stdout.decode(), second.returncode) == ('second binary, arguments: ["x"]\n', 7)

    main_rs = folder / "src" / "main.rs"
    original = main_rs.read_text()
    main_rs.write_text(original.replace("process::exit(3)", "process::exit(4)"))
    try:
        started = time.monotonic()
        rebuild = cargo(project, "build", "--bin", "hello")
        relink = time.monotonic() - started
        assert rebuild.returncode == 0, rebuild.stderr[-3000:]
        assert tools.run(image).returncode == 4
    finally:
        main_rs.write_text(original)  # the module's other tests build the example as it is
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
    assert run.stdout.count("test result: ok.") == 5  # the four binaries and the doctests
    assert "test src/lib.rs - word_counts (line 6) ... ok" in run.stdout


def runner(tools: Tools, options: list[str], image: Path, args: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "kraftld.run", *options, str(image), *args],
        env=tools.environ,
        capture_output=True,
        timeout=300,
    )


def test_env_and_shared_folders_in_rust_std(
    tools: Tools, project: tuple[Path, dict[str, str], list[str], str], tmp_path: Path
) -> None:
    folder = project[0]
    build = cargo(project, "build")
    assert build.returncode == 0, build.stderr[-3000:]
    debug = folder / "target" / TARGET / "debug"
    greeting = "from the runner: spaces, 'quotes', a=b, ünïcödé"
    hello = runner(tools, ["-e", f"GREETING={greeting}"], debug / "hello", [])
    assert f"GREETING={greeting}" in hello.stdout.decode().splitlines(), hello.stdout

    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "from-host.txt").write_text("written on the host")
    files = debug / "files"
    read = runner(tools, ["-v", f"{shared}:/data"], files, ["read", "/data/from-host.txt"])
    assert (read.returncode, read.stdout) == (0, b"<written on the host>\n"), read.stderr
    write = runner(tools, ["-v", f"{shared}:/data"], files, ["write", "/data/from-guest.txt", "written in the guest"])
    assert write.returncode == 0, write.stdout + write.stderr
    assert (shared / "from-guest.txt").read_text() == "written in the guest"
    listed = runner(tools, ["-v", f"{shared}:/data"], files, ["list", "/data"])
    assert listed.stdout.decode().splitlines() == ["from-guest.txt", "from-host.txt"]
    refused = runner(tools, ["-v", f"{shared}:/data:ro"], files, ["write", "/data/from-host.txt", "changed"])
    assert refused.returncode == 2 and refused.stdout.startswith(b"error: "), refused.stdout
    assert (shared / "from-host.txt").read_text() == "written on the host"


def test_libtest_arguments_reach_the_test_binary(
    tools: Tools, project: tuple[Path, dict[str, str], list[str], str]
) -> None:
    folder = project[0]
    build = cargo(project, "test", "--no-run", "--test", "in_unikernel")
    assert build.returncode == 0, build.stderr[-3000:]
    executable = folder / next(
        line.split("(")[-1].rstrip(")") for line in build.stderr.splitlines() if "Executable" in line
    )

    listed = tools.run(executable, ["--list"]).stdout.decode().splitlines()
    assert "threads_join: test" in listed and "ignored_by_default: test" in listed
    exact = tools.run(executable, ["threads_join", "--exact"]).stdout.decode()
    assert "running 1 test" in exact and "test threads_join ... ok" in exact
    assert "running 0 tests" in tools.run(executable, ["threads", "--exact"]).stdout.decode()
    one_thread = tools.run(executable, ["--test-threads=1"])
    assert one_thread.returncode == 0
    assert "test result: ok. 4 passed; 0 failed; 1 ignored" in one_thread.stdout.decode()
    assert b"printed by a test" not in tools.run(executable, ["prints_a_line"]).stdout
    assert b"printed by a test" in tools.run(executable, ["--nocapture", "prints_a_line"]).stdout
    ignored = runner(tools, ["-e", "ONLY_IGNORED=yes"], executable, ["--ignored"])
    assert "test result: ok. 1 passed" in ignored.stdout.decode(), ignored.stdout
    # -Z wants RUSTC_BOOTSTRAP in the environment of a stable libtest: the guest's.
    json_run = runner(tools, ["--env", "RUSTC_BOOTSTRAP=1"], executable, ["--format", "json", "-Z", "unstable-options"])
    events = [json.loads(line) for line in json_run.stdout.decode().splitlines() if line.startswith("{")]
    assert {"type": "suite", "event": "ok"}.items() <= events[-1].items(), json_run.stdout
    assert json_run.returncode == 0

    # The same through cargo: arguments after `--` reach the runner's program unchanged.
    through_cargo = cargo(project, "test", "--test", "in_unikernel", "--", "--exact", "threads_join", "--nocapture")
    assert through_cargo.returncode == 0, through_cargo.stdout[-3000:] + through_cargo.stderr[-3000:]
    assert "test threads_join ... ok" in through_cargo.stdout and "1 passed" in through_cargo.stdout


@contextlib.contextmanager
def added_test(folder: Path, program: str, name: str) -> Iterator[None]:
    """tests/programs/PROGRAM as the project's integration test NAME, removed after: the module's
    other tests count the example's test binaries."""
    added = folder / "tests" / name
    shutil.copy(PROGRAMS / program, added)
    try:
        yield
    finally:
        added.unlink()


def test_aborting_tests_are_finished_as_on_a_host_with_panic_abort_tests(
    tools: Tools, project: tuple[Path, dict[str, str], list[str], str]
) -> None:
    """should_panic tests and failing assertions abort the whole binary here (panic=abort):
    kraftld-run boots again for the tests left and gives libtest's summary and status."""
    folder = project[0]
    with added_test(folder, "aborting_tests.rs", "aborting.rs"):
        run = cargo(project, "test", "--test", "aborting")
        out = run.stdout
        assert run.returncode == 101, out[-3000:] + run.stderr[-3000:]
        for line in (
            "test a_passes ... ok",
            "test b_panics_as_it_should - should panic ... ok",
            "test c_fails ... FAILED",
            "test d_ignored ... ignored, only with --ignored",
            "test e_panics_too - should panic ... ok",
            "test f_passes_after_the_aborts ... ok",
        ):
            assert line in out.splitlines(), out
        # The failing test's panic message, from its boot with --nocapture, as libtest shows it.
        assert "---- c_fails stdout ----" in out and "arithmetic is off" in out, out
        assert "\nfailures:\n    c_fails\n" in out
        assert "test result: FAILED. 4 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out" in out
        assert "3 test(s) ended the test binary (panic=abort)" in run.stderr

        skipped = cargo(project, "test", "--test", "aborting", "--", "--skip", "c_fails", "--skip", "a_")
        assert skipped.returncode == 0, skipped.stdout[-3000:] + skipped.stderr[-3000:]
        assert "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 2 filtered out" in skipped.stdout
        assert "a_passes" not in skipped.stdout and "c_fails" not in skipped.stdout


# What the host's libtest prints for tests/programs/should_panic_expected.rs (unwinding, or
# -Cpanic=abort -Zpanic-abort-tests): only c_expected_differs's panic lacks its expected text.
EXPECTED_VERDICTS = (
    "test a_passes ... ok",
    "test b_expected_matches - should panic ... ok",
    "test c_expected_differs - should panic ... FAILED",
    "test d_formatted_message_matches - should panic ... ok",
    "test e_plain_should_panic - should panic ... ok",
    "test f_passes_after ... ok",
)


def test_should_panic_expected_text_is_checked_as_on_a_host(
    tools: Tools, project: tuple[Path, dict[str, str], list[str], str]
) -> None:
    """A should_panic test passes only if its panic message contains its expected text: the host
    (unwinding, or -Cpanic=abort -Zpanic-abort-tests) gives 5 passed, c_expected_differs FAILED."""
    folder = project[0]
    with added_test(folder, "should_panic_expected.rs", "expected.rs"):
        run = cargo(project, "test", "--test", "expected")
        out = run.stdout
        assert run.returncode == 101, out[-3000:] + run.stderr[-3000:]
        for line in EXPECTED_VERDICTS:
            assert line in out.splitlines(), out
        # libtest's note and the panic, in the test's stderr block as the host's -Zpanic-abort-tests has it.
        assert (
            "---- c_expected_differs stderr ----\n"
            "panic did not contain expected string\n"
            '      panic message: "boom, not what was expected"\n'
            ' expected substring: "bang"\n'
        ) in out, out
        assert "\nfailures:\n    c_expected_differs\n" in out
        assert "test result: FAILED. 5 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out" in out
        assert "3 should_panic message(s) compared with their expected text" in run.stderr, run.stderr

        matching = cargo(project, "test", "--test", "expected", "--", "--skip", "c_expected")
        assert matching.returncode == 0, matching.stdout[-3000:] + matching.stderr[-3000:]
        assert "test result: ok. 5 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out" in matching.stdout


def test_a_panic_abort_tests_binary_runs_in_one_process_and_judges_its_should_panic_tests(
    tools: Tools, project: tuple[Path, dict[str, str], list[str], str]
) -> None:
    """Built with -Zpanic-abort-tests (as a host builds panic=abort tests), libtest spawns a child
    per test, which the guest cannot: kraftld-run runs the tests in one process and lets the
    guest's libtest judge each aborting should_panic test (__RUST_TEST_INVOKE), as on the host."""
    folder, environ, command, _ = project
    with added_test(folder, "should_panic_expected.rs", "expected.rs"):
        # A target folder of its own: the flag changes every crate's build, std's included.
        flags = {"RUSTFLAGS": "-Zpanic-abort-tests", "CARGO_TARGET_DIR": str(folder / "target-abort")}
        run = subprocess.run(
            [*command, "test", "--offline", "--test", "expected"],
            cwd=folder,
            env={**environ, **flags},
            capture_output=True,
            text=True,
            timeout=3000,
        )
        out = run.stdout
        assert run.returncode == 101, out[-3000:] + run.stderr[-3000:]
        assert "Failed to spawn" not in out
        for line in EXPECTED_VERDICTS:
            assert line in out.splitlines(), out
        # The note written by the guest's libtest in its secondary mode, its thread 'main'.
        assert (
            "---- c_expected_differs stderr ----\n"
            "panic did not contain expected string\n"
            '      panic message: "boom, not what was expected"\n'
            ' expected substring: "bang"\n\n'
            "thread 'main'"
        ) in out, out
        assert "test result: FAILED. 5 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out" in out
        assert "4 should_panic test(s) judged by libtest in the guest (__RUST_TEST_INVOKE)" in run.stderr, run.stderr
