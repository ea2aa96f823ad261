"""What C programs expect of memory, stacks and files, on the kit's Unikraft with lib-musl: the probe
(tests/programs/probe.c) linked by kraftld, booted by kraftld-run at the runner's default memory.

Needs KRAFTLD_TEST_SOURCES (the offline mirror with lib-musl and archives/musl-1.2.3.tar.gz).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from realboot import PROBE_KRAFTFILE, PROGRAMS, Tools


@pytest.fixture(scope="module")
def probe(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> tuple[Tools, Path]:
    sources = os.environ.get("KRAFTLD_TEST_SOURCES")
    if not sources:
        pytest.skip("set KRAFTLD_TEST_SOURCES to an offline mirror with lib-musl and archives/musl-1.2.3.tar.gz")
    folder = tmp_path_factory.mktemp("probe")
    (folder / "Kraftfile").write_text(PROBE_KRAFTFILE)
    obj = tools.compile_c(PROGRAMS / "probe.c", folder / "probe.o", "-D_GNU_SOURCE")
    musl_tools = tools.from_mirror(sources)
    musl_tools.kraftld([str(obj), "-o", str(folder / "probe")], cwd=folder)
    return musl_tools, folder / "probe"


def boot(probe: tuple[Tools, Path], *args: str, memory: str = "") -> tuple[int, list[str]]:
    """The probe's status and lines; `memory` for --memory, or the runner's default."""
    tools, image = probe
    options = ["--memory", memory] if memory else []
    result = subprocess.run(
        [sys.executable, "-m", "kraftld.run", *options, str(image), *args],
        env=tools.environ,
        capture_output=True,
        timeout=300,
    )
    return result.returncode, result.stdout.decode(errors="replace").splitlines()


def fill(probe: tuple[Tools, Path], size: int, memory: str = "") -> int:
    status, lines = boot(probe, "fill", str(size), memory=memory)
    assert status == 0, lines
    found = [re.match(r"fill: (\d+) allocations", line) for line in lines]
    return next(int(m.group(1)) for m in found if m)


def test_200000_small_allocations_fit_the_default_guest(probe: tuple[Tools, Path]) -> None:
    # Unikraft's page allocator alone held 27,077 allocations of 16 bytes in 128 MiB.
    status, lines = boot(probe, "small", "200000", "16")
    assert lines[-2:] == [
        "round 0: 200000 of 200000 allocations of 16 bytes",
        "round 1: 200000 of 200000 allocations of 16 bytes",
    ]
    assert status == 0


def test_a_small_allocation_costs_no_more_than_on_the_host(probe: tuple[Tools, Path]) -> None:
    # Blocks of a little less than 1 MiB measure what the guest's heap holds; 16-byte objects
    # must fill it at most at glibc's cost (32 bytes for malloc(16)).
    heap = fill(probe, 1048512) * 1048512
    small = fill(probe, 16)
    assert small * 32 >= heap, (small, heap)


def test_the_malloc_family_keeps_its_promises(probe: tuple[Tools, Path]) -> None:
    status, lines = boot(probe, "api")
    assert (status, lines[-1:]) == (0, ["api: 0 failures"]), lines


def test_thread_stack_size_is_honoured(probe: tuple[Tools, Path]) -> None:
    status, lines = boot(probe, "thread", "8")
    assert status == 0, lines
    sizes = [int(m.group(1)) for m in (re.match(r"thread stack: (\d+) KiB", line) for line in lines) if m]
    assert sizes and sizes[0] >= 9 * 1024
    assert lines[-1] == "thread recursed through 8 MiB"


def test_main_has_megabytes_of_stack(probe: tuple[Tools, Path]) -> None:
    # kraftld's default: 4 MiB for Unikraft's threads, main among them (Unikraft's own: 64 KiB)
    status, lines = boot(probe, "main", "3")
    assert (status, lines[-1:]) == (0, ["main recursed through 3 MiB"]), lines


def test_files_behave_as_on_linux(probe: tuple[Tools, Path]) -> None:
    status, lines = boot(probe, "files")
    assert status == 0, lines
    assert lines[-7:] == [
        'open(""): No such file or directory',
        'openat(""): No such file or directory',
        "link: Operation not permitted",  # ramfs has no hard links, as EPERM says on Linux
        "linkat: Operation not permitted",
        "link to a missing file: No such file or directory",
        "removed 20 of 20 while reading",
        "rmdir: ok",
    ]


def test_the_cpu_time_clocks_answer(probe: tuple[Tools, Path]) -> None:
    status, lines = boot(probe, "clocks")
    assert status == 0, lines
    assert lines[-4:] == [
        "clock_gettime(CLOCK_PROCESS_CPUTIME_ID): ok",
        "clock_gettime(CLOCK_THREAD_CPUTIME_ID): ok",
        "clock_getres(CLOCK_PROCESS_CPUTIME_ID): ok",
        "clock() moved forward",  # Unikraft's posix-time alone: clock() returns -1
    ]


def test_the_largest_memory_kraftld_run_accepts_is_used(probe: tuple[Tools, Path]) -> None:
    # 3583M is the runner's bound (settings.MAX_MEMORY_MIB): all of it reaches the heap. QEMU
    # reserves the guest's memory without touching it; the probe writes one word per MiB.
    blocks = fill(probe, 1048512, memory="3583M")
    assert blocks * 1048512 > 3400 * 2**20, blocks


def test_more_memory_than_the_image_uses_is_refused_with_the_reason(probe: tuple[Tools, Path]) -> None:
    tools, image = probe
    result = subprocess.run(
        [sys.executable, "-m", "kraftld.run", "--memory", "4G", str(image), "api"],
        env=tools.environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 125
    assert result.stderr.startswith("kraftld-run: error: guest memory 4G is more than this image can use (3583M)\n")
    assert "CONFIG_LIBUKVMEM" in result.stderr


def test_a_thread_stack_overflow_is_reported_as_one(probe: tuple[Tools, Path]) -> None:
    # 80 KiB of frames in a 64 KiB stack: the guard page below the thread's stack stops it.
    status, lines = boot(probe, "overflow", "80")
    assert status == 134
    assert any(line.startswith("kraftld: a thread overflowed its stack of 6") for line in lines), lines
    assert not any("recursed" in line for line in lines)
    status, lines = boot(probe, "overflow", "32")  # within its stack: no report
    assert (status, lines[-1:]) == (0, ["thread recursed through 32 KiB in 64 KiB"])


@pytest.mark.parametrize(
    ("where", "report"),
    [
        # Unikraft's main thread: 4 MiB (CONFIG_STACK_SIZE_PAGE_ORDER=10), the lowest 16 KiB guarded
        ("main", "kraftld: main overflowed its stack of 4096 KiB (stack overflow); give it more: "),
        # a recursion that never returns: only a guard page catches it, at the moment it happens
        ("thread", "kraftld: a thread overflowed its stack of 6"),
    ],
)
def test_a_runaway_recursion_is_reported_as_a_stack_overflow(
    probe: tuple[Tools, Path], where: str, report: str
) -> None:
    # Before: main's ended in "Unhandled Trap 6 (invalid opcode)" (a return address overwritten)
    status, lines = boot(probe, "runaway", where)
    assert status == 134, lines
    assert lines[0] == f"runaway recursion in {where}", lines
    reports = [line for line in lines if line.startswith(report)]
    assert reports, lines
    assert lines[-1] == reports[0], lines  # the report is the guest's last word
    assert not any("Unhandled Trap" in line or "returned" in line for line in lines), lines


def test_a_thread_ended_by_pthread_exit_leaves_no_guard_behind(probe: tuple[Tools, Path]) -> None:
    # The guard below a thread's stack is lifted before musl frees the stack, also at pthread_exit:
    # one left in place would fault (as an overflow) when the memory is used again.
    status, lines = boot(probe, "exits")
    assert (status, lines[-1:]) == (0, ["20 threads ended by pthread_exit (results 190), their memory reused"]), lines


def test_fprintf_passes_floating_point_arguments_on(probe: tuple[Tools, Path]) -> None:
    # fprintf reaches lib-musl through kraftld's wrapper for nolibc's stderr: its variadic
    # arguments in vector registers must arrive intact.
    status, lines = boot(probe, "floats")
    assert (status, lines[-1:]) == (0, ["floats: 1.50 2.250 7"]), lines
    assert "stderr 1.50" not in lines  # on the runner's stderr, not its stdout
