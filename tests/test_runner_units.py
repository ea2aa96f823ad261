"""kraftld-run's pure parts: the console filter, command-line quoting, QEMU's ending, arguments."""

from __future__ import annotations

import pytest

from kraftld.errors import RunError
from kraftld.runner.console import ConsoleFilter
from kraftld.runner.qemu import (
    CRASH_STATUS,
    KRAFTLD_EXIT_CODE,
    RUNNER_FAILURE_STATUS,
    TIMEOUT_STATUS,
    UNIKRAFT_CRASH_CODE,
    Accel,
    BootOptions,
    Ending,
    interpret,
    kernel_command_line,
    qemu_command,
    quote_argument,
)
from kraftld.runner.settings import RunSettings, parse_run_args

MARK = b"\x1b]kraftld-exit-status;"


def feed_all(chunks: list[bytes]) -> tuple[bytes, int | None]:
    console = ConsoleFilter()
    out = b"".join(console.feed(c) for c in chunks) + console.finish()
    return out, console.status


@pytest.mark.parametrize(
    ("chunks", "output", "status"),
    [
        ([b"hello\r\n", MARK + b"3\x07"], b"hello\n", 3),
        ([b"no newline", MARK + b"42\x07"], b"no newline", 42),
        ([b"a\r", b"\nb\r\r\n", MARK, b"-1", b"\x07"], b"a\nb\r\n", -1),
        ([b"x" * 10, b"\x1b]kraftld-ex", b"it-status;255\x07"], b"x" * 10, 255),
        ([b"\x1b[1mbold\x1b[0m\r\n", MARK + b"0\x07"], b"\x1b[1mbold\x1b[0m\n", 0),
        ([b"\x1b]kraftld-other\x07 text"], b"\x1b]kraftld-other\x07 text", None),
        ([b"cut short \x1b]kraftld-exit-stat"], b"cut short \x1b]kraftld-exit-stat", None),
        ([b"lone \r"], b"lone \r", None),
    ],
)
def test_console_filter(chunks: list[bytes], output: bytes, status: int | None) -> None:
    assert feed_all(chunks) == (output, status)


def test_console_filter_passes_output_on_at_once() -> None:
    console = ConsoleFilter()
    assert console.feed(b"partial line without newline") == b"partial line without newline"


def test_console_filter_every_split_point() -> None:
    stream = b"line one\r\nline two\r\n" + MARK + b"17\x07"
    for cut in range(len(stream) + 1):
        assert feed_all([stream[:cut], stream[cut:]]) == (b"line one\nline two\n", 17)


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        ("a", "'a'"),
        ("b c", "'b c'"),
        ('d"e', "'d\"e'"),
        ("it's", '"it\'s"'),
        ("x'y\"z\\", '"x\'y\\"z\\\\"'),
        ("$HOME", "'$HOME'"),
        ("--", "'--'"),
    ],
)
def test_quote_argument(arg: str, quoted: str) -> None:
    assert quote_argument(arg) == quoted


def test_kernel_command_line_puts_a_parameter_before_the_separator() -> None:
    line = kernel_command_line(["a", "b c"], [1, 2, 3, 0xFFFFFFFFFFFFFFFF])
    assert line == (
        "kraftld.seed=[0x0000000000000001 0x0000000000000002 0x0000000000000003 0xffffffffffffffff] -- 'a' 'b c'"
    )


def test_qemu_command() -> None:
    command = qemu_command("img", ["x"], BootOptions(memory="256M", extra_args=("-smp", "2")), [0, 0, 0, 0])
    assert command[0] == "qemu-system-x86_64"
    assert command[command.index("-machine") + 1] == "accel=tcg"
    assert command[command.index("-cpu") + 1] == "max"
    assert command[command.index("-m") + 1] == "256M"
    assert "isa-debug-exit,iobase=0x501,iosize=2" in command
    assert command[-2:] == ("-smp", "2")
    kvm = qemu_command("img", [], BootOptions(accel=Accel.KVM), [0, 0, 0, 0])
    assert kvm[kvm.index("-cpu") + 1] == "host"


@pytest.mark.parametrize(
    ("code", "reported", "timed_out", "ending", "status"),
    [
        (KRAFTLD_EXIT_CODE, 0, False, Ending.EXITED, 0),
        (KRAFTLD_EXIT_CODE, 42, False, Ending.EXITED, 42),
        (KRAFTLD_EXIT_CODE, 255, False, Ending.EXITED, 255),
        (KRAFTLD_EXIT_CODE, 256 + 3, False, Ending.EXITED, 3),
        (KRAFTLD_EXIT_CODE, -1, False, Ending.EXITED, 255),
        (KRAFTLD_EXIT_CODE, None, False, Ending.QEMU_FAILED, RUNNER_FAILURE_STATUS),
        (UNIKRAFT_CRASH_CODE, None, False, Ending.CRASHED, CRASH_STATUS),
        (0, None, False, Ending.HALTED_WITHOUT_STATUS, CRASH_STATUS),
        (83, None, False, Ending.HALTED_WITHOUT_STATUS, CRASH_STATUS),
        (1, None, False, Ending.QEMU_FAILED, RUNNER_FAILURE_STATUS),
        (-9, None, True, Ending.TIMED_OUT, TIMEOUT_STATUS),
    ],
)
def test_interpret(code: int, reported: int | None, timed_out: bool, ending: Ending, status: int) -> None:
    outcome = interpret(code, reported, timed_out)
    assert (outcome.ending, outcome.status) == (ending, status)
    assert (outcome.message is None) == (ending is Ending.EXITED)


def test_run_arguments() -> None:
    request = parse_run_args(
        ["--memory", "1G", "--timeout", "5", "--qemu-arg", "-smp", "img", "-v", "--memory"],
        {"KRAFTLD_QEMU_ARGS": "-s 'a b'", "KRAFTLD_QEMU": "/opt/qemu"},
    )
    assert isinstance(request, RunSettings)
    assert request.image == "img"
    assert request.args == ("-v", "--memory")
    assert request.memory == "1G"
    assert request.qemu == "/opt/qemu"
    assert request.qemu_args == ("-s", "a b", "-smp")
    assert request.timeout == 5.0
    env_request = parse_run_args(["img"], {"KRAFTLD_MEMORY": "64M", "KRAFTLD_RUN_TIMEOUT": "2.5"})
    assert isinstance(env_request, RunSettings)
    assert (env_request.memory, env_request.timeout) == ("64M", 2.5)
    dashed = parse_run_args(["--", "-img"], {"KRAFTLD_CACHE": "/c"}, "/w")
    assert dashed == RunSettings("-img", (), cache="/c", cwd="/w")
    assert parse_run_args(["--help"], {}) == "help"


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        ([], {}, "no image"),
        (["--bogus", "img"], {}, "unknown option"),
        (["--memory"], {}, "needs a value"),
        (["img"], {"KRAFTLD_MEMORY": "lots"}, "not a size"),
        (["img"], {"KRAFTLD_RUN_TIMEOUT": "soon"}, "not a number"),
        (["img"], {"KRAFTLD_RUN_TIMEOUT": "-1"}, "more than 0"),
    ],
)
def test_run_argument_errors(argv: list[str], environ: dict[str, str], message: str) -> None:
    with pytest.raises(RunError, match=message):
        parse_run_args(argv, environ)


ERR = b"\x1b]kraftld-stderr;\x07"
OUT = b"\x1b]kraftld-stdout;\x07"


@pytest.mark.parametrize(
    ("stream", "stdout", "stderr", "status"),
    [
        (b"out\r\n" + ERR + b"err\r\n" + OUT + b"more\r\n" + MARK + b"1\x07", b"out\nmore\n", b"err\n", 1),
        (ERR + b"only stderr" + OUT, b"", b"only stderr", None),
        (ERR + b"a" + OUT + ERR + b"b\r\n" + OUT + b"c", b"c", b"ab\n", None),
        (b"\x1b]kraftld-stdouts;\x07", b"\x1b]kraftld-stdouts;\x07", b"", None),  # not a marker
        (ERR + b"cut short", b"", b"cut short", None),  # a guest that dies inside a write to stderr
    ],
)
def test_console_filter_tells_stderr_apart_at_every_split_point(
    stream: bytes, stdout: bytes, stderr: bytes, status: int | None
) -> None:
    for cut in range(len(stream) + 1):
        console = ConsoleFilter()
        parts = [console.split(stream[:cut]), console.split(stream[cut:]), console.finish_split()]
        assert (b"".join(p[0] for p in parts), b"".join(p[1] for p in parts), console.status) == (
            stdout,
            stderr,
            status,
        ), cut
