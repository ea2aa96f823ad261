"""Reading a test binary's should_panic expectations through gdb: the dump's format, and the
stopped boot always stopped again, whatever gdb does (a fake gdb and a fake QEMU); and telling a
-Zpanic-abort-tests binary by its symbols."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kraftld.runner import boot, describe
from kraftld.runner.image import ImageFacts, has_abort_harness
from kraftld.runner.qemu import BootOptions, device_args
from kraftld.runner.settings import RunSettings

END = "kraftld-tests-end"


@pytest.mark.parametrize(
    ("dump", "expectations"),
    [
        (
            'chatter\nkraftld-test {"name": "t::a", "variant": "YesWithMessage", "expected": "boom \\"x\\""}\n'
            'kraftld-test {"name": "b", "variant": "Yes", "expected": null}\n' + END + "\n",
            {"t::a": 'boom "x"', "b": None},
        ),
        (END + "\n", {}),  # no should_panic test
        ('kraftld-test {"name": "b", "variant": "Yes", "expected": null}\n', None),  # cut short
    ],
)
def test_read_dump(dump: str, expectations: dict[str, str | None] | None) -> None:
    assert describe.read_dump(dump) == expectations


def test_the_gdb_script_is_python_once_filled_in() -> None:
    script = describe.GDB_SCRIPT % {"socket": "/tmp/x/gdb.socket", "line": "kraftld-test ", "end": END}
    compile(script, "describe.py", "exec")
    assert "target remote /tmp/x/gdb.socket" in script and "test::test_main_static_abort" in script


def fake_gdb(tmp_path: Path, body: str) -> str:
    gdb = tmp_path / "gdb"
    gdb.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    gdb.chmod(0o755)
    return str(gdb)


def test_expectations_come_from_gdbs_dump_and_the_stopped_boot_is_stopped(tmp_path: Path) -> None:
    launched: list[subprocess.Popen[bytes]] = []

    def launch(stub: str) -> subprocess.Popen[bytes]:
        assert stub.endswith("gdb.socket")
        launched.append(subprocess.Popen(["sleep", "60"], start_new_session=True))
        return launched[-1]

    gdb = fake_gdb(
        tmp_path,
        f'print(\'kraftld-test {{"name": "a", "variant": "YesWithMessage", "expected": "boom"}}\')\nprint({END!r})',
    )
    assert describe.read_expectations("app.dbg", launch, gdb) == ({"a": "boom"}, 1)
    assert launched[0].poll() is not None


def test_a_gdb_that_fails_gives_the_reason_and_the_boot_is_stopped(tmp_path: Path) -> None:
    launched: list[subprocess.Popen[bytes]] = []

    def launch(stub: str) -> subprocess.Popen[bytes]:
        launched.append(subprocess.Popen(["sleep", "60"], start_new_session=True))
        return launched[-1]

    gdb = fake_gdb(tmp_path, "sys.stderr.write('No symbol \"tests\" in current context.\\n'); sys.exit(1)")
    reason, boots = describe.read_expectations("app.dbg", launch, gdb)
    assert boots == 1 and isinstance(reason, str)
    assert "could not read the test table from app.dbg" in reason and 'No symbol "tests"' in reason
    assert launched[0].poll() is not None


def test_without_gdb_nothing_boots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")

    def launch(stub: str) -> subprocess.Popen[bytes]:
        raise AssertionError("booted without gdb")

    reason, boots = describe.read_expectations("app.dbg", launch)
    assert boots == 0 and isinstance(reason, str) and "gdb is not installed" in reason


@pytest.mark.parametrize(
    ("function", "abort_harness"),
    [
        ("_RNvCsblUwaE7plte_4test22test_main_static_abort", True),  # v0 mangling
        ("_ZN4test22test_main_static_abort17h0123456789abcdefE", True),  # legacy mangling
        ("_RNvCsblUwaE7plte_4test16test_main_static", False),  # a plain cargo test binary
        ("_RNCNvCsblUwaE7plte_4test22test_main_static_abort0B3_", False),  # a closure of it only
    ],
)
def test_the_abort_harness_is_told_by_its_symbol(tmp_path: Path, function: str, abort_harness: bool) -> None:
    source = tmp_path / "entry.c"
    source.write_text(f"void {function}(void) {{}}\n")
    subprocess.run(["gcc", "-c", str(source), "-o", str(tmp_path / "entry.o")], check=True)
    assert has_abort_harness(str(tmp_path / "entry.o")) is abort_harness
    assert has_abort_harness(str(source)) is False  # not an ELF file


@pytest.mark.parametrize(
    ("options", "gdb_args"),
    [
        (BootOptions(gdb_socket="/tmp/k/gdb.socket"), ["-gdb", "unix:/tmp/k/gdb.socket,server=on,wait=off", "-S"]),
        (BootOptions(gdb_socket="/tmp/a,b/s"), ["-gdb", "unix:/tmp/a,,b/s,server=on,wait=off", "-S"]),  # QEMU's ,,
        (BootOptions(gdb_port=1234), ["-gdb", "tcp:127.0.0.1:1234", "-S"]),  # the user's --gdb
    ],
)
def test_the_stopped_boots_gdb_stub(options: BootOptions, gdb_args: list[str]) -> None:
    assert device_args(options)[-3:] == gdb_args


def harness_object(tmp_path: Path, entry: str) -> str:
    """An ELF object holding libtest's words and a libtest entry: a test binary as far as the
    runner looks (symbols_file falls back to the file itself when no .dbg is beside it)."""
    source = tmp_path / "harness.c"
    source.write_text(f'const char words[] = "test result: ";\nvoid {entry}(void) {{}}\n')
    subprocess.run(["gcc", "-c", str(source), "-o", str(tmp_path / "harness.o")], check=True)
    return str(tmp_path / "harness.o")


@pytest.mark.parametrize(
    ("entry", "args", "room", "env", "in_process", "said"),
    [
        ("_RNvCs1_4test22test_main_static_abort", ("--exact", "t"), 8, (), True, False),
        ("_RNvCs1_4test22test_main_static_abort", ("--list",), 8, (), False, False),  # lists in-process anyway
        ("_RNvCs1_4test16test_main_static", (), 8, (), False, False),  # plain cargo test: nothing to do
        # No room for RUSTC_BOOTSTRAP and __RUST_TEST_INVOKE beside the user's variables: said why.
        ("_RNvCs1_4test22test_main_static_abort", (), 8, tuple((f"V{i}", "1") for i in range(7)), False, True),
        ("_RNvCs1_4test22test_main_static_abort", (), 0, (), False, True),
    ],
)
def test_a_panic_abort_tests_binary_runs_in_process_when_the_guest_has_room(
    tmp_path: Path,
    entry: str,
    args: tuple[str, ...],
    room: int,
    env: tuple[tuple[str, str], ...],
    in_process: bool,
    said: bool,
) -> None:
    image = harness_object(tmp_path, entry)
    facts = ImageFacts(frozenset(), {"env.vars": room} if room else {})
    notes: list[str] = []
    assert boot._abort_harness(image, RunSettings(image, args, env=env), facts, notes.append) is in_process
    assert bool(notes) is said
    if said:
        assert "-Zpanic-abort-tests" in notes[0] and "CONFIG_LIBPOSIX_ENVIRON_LIBPARAM" in notes[0]
