"""Faults and concurrency for real: signals mid-build, a crashed kraftld, eight links at once.

Each interrupted link must exit with the shell's status for its signal (130 for SIGINT, 143 for
SIGTERM), leave no process of its build running, nothing at -o, its lock free and its cache
usable: the next link on the same cache succeeds and its image boots. Interrupted cold builds
use a fresh cache each; relinks use the session's warm one.

Every kraftld started here carries a token in its environment, which make, the compilers and
the linker inherit: /proc tells which processes belong to the link under test. The cache path
in a process's command line or working folder counts too.

KRAFTLD_STRESS_ROUNDS (default 1) repeats the eight-links-at-once round on the warm cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from realboot import PROGRAMS, Tools

TOKEN_VARIABLE = "KRAFTLD_FAULT_TEST_TOKEN"
SIGNAL_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
STRESS_ROUNDS = int(os.environ.get("KRAFTLD_STRESS_ROUNDS") or "1")
PARALLEL_LINKS = 8


# --- processes of one link -------------------------------------------------------------------


@dataclass(frozen=True)
class Process:
    pid: int
    pgid: int
    name: str
    cmdline: str

    def __str__(self) -> str:
        return f"{self.pid} {self.name}: {self.cmdline[:160]}"


def processes_of(token: str, cache: Path) -> list[Process]:
    """Running processes (not zombies) of the link tagged with `token`, or that work in `cache`."""
    mark = f"{TOKEN_VARIABLE}={token}".encode()
    cache_bytes = str(cache).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read()
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read()
            with open(f"/proc/{pid}/environ", "rb") as handle:
                environ = handle.read().split(b"\0")
            cwd = os.readlink(f"/proc/{pid}/cwd").encode()
        except OSError:
            continue  # gone meanwhile, or a kernel thread
        name = stat[stat.index(b"(") + 1 : stat.rindex(b")")].decode(errors="replace")
        fields = stat[stat.rindex(b")") + 2 :].split()
        if fields[0] == b"Z":
            continue
        if mark in environ or cache_bytes in cmdline or cwd.startswith(cache_bytes):
            shown = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
            found.append(Process(pid, int(fields[2]), name, shown))
    return found


def wait_until_gone(token: str, cache: Path, grace: float) -> tuple[list[Process], float]:
    """The processes still running after `grace` seconds (none, hopefully), and how long it took."""
    started = time.monotonic()
    while True:
        left = processes_of(token, cache)
        elapsed = time.monotonic() - started
        if not left or elapsed > grace:
            return left, elapsed
        time.sleep(0.05)


def stop_orphans(token: str, cache: Path) -> list[Process]:
    """What a user does after a crash: stop what the dead link left running (TERM, then KILL)."""
    orphans = processes_of(token, cache)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for group in {p.pgid for p in processes_of(token, cache)}:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sig)
        left, _ = wait_until_gone(token, cache, 10)
        if not left:
            break
    return orphans


# --- starting and watching links -------------------------------------------------------------


@dataclass
class Link:
    process: subprocess.Popen[str]
    token: str
    cache: Path
    output: Path

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        _, stderr = self.process.communicate(timeout=timeout)
        return self.process.returncode, stderr


def start_link(
    tools: Tools, obj: Path, output: Path, cache: Path, env: dict[str, str] | None = None, *, session: bool = True
) -> Link:
    token = uuid.uuid4().hex
    process = subprocess.Popen(
        [sys.executable, "-m", "kraftld", str(obj), "-o", str(output)],
        cwd=tools.work,
        env={**tools.environ, "KRAFTLD_CACHE": str(cache), TOKEN_VARIABLE: token, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # No terminal: kraftld draws no progress line, and a Ctrl-C at the developer's terminal
        # does not reach it; the test alone sends signals.
        start_new_session=session,
    )
    return Link(process, token, cache, output)


def wait_for(link: Link, condition: Callable[[], bool], what: str, timeout: float = 300, poll: float = 0.05) -> float:
    started = time.monotonic()
    while not condition():
        if link.process.poll() is not None:
            _, stderr = link.process.communicate()
            raise AssertionError(f"kraftld ended ({link.process.returncode}) before {what}:\n{stderr}")
        if time.monotonic() - started > timeout:
            raise AssertionError(f"no sign of {what} after {timeout} s")
        time.sleep(poll)
    return time.monotonic() - started


COMPILERS = {"cc1", "gcc", "as", "cc", "collect2", "ld", "x86_64-linux-gnu-gcc-12", "x86_64-linux-gnu-as"}


def compiling(link: Link, lines_after_start: int = 30) -> Callable[[], bool]:
    """make is well into the build: its command is in build.log, with lines after it, and a compiler runs."""

    def check() -> bool:
        logs = list(link.cache.glob("builds/*/build.log"))
        if not logs:
            return False
        text = logs[0].read_text(errors="replace")
        at = text.find("UK_LDFLAGS=")
        if at == -1 or text.count("\n", at) < lines_after_start:
            return False
        return any(p.name in COMPILERS or p.name.startswith("cc1") for p in processes_of(link.token, link.cache))

    return check


def assert_locks_free(cache: Path) -> None:
    for lock in cache.glob("builds/*/lock"):
        with open(lock, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise AssertionError(f"{lock} is still locked") from None
            fcntl.flock(handle, fcntl.LOCK_UN)


def assert_no_output(output: Path) -> None:
    assert not os.path.lexists(output), f"{output} is there after a failed link"
    assert not os.path.lexists(f"{output}.dbg"), f"{output}.dbg is there after a failed link"
    temporaries = [n for n in os.listdir(output.parent) if n.startswith(f".{output.name}")]
    assert not temporaries, f"half-written files beside the output: {temporaries}"


def assert_boots_as(tools: Tools, image: Path, name: str) -> None:
    booted = tools.run(image, ["hello"])
    assert booted.returncode == 0, booted.stderr.decode(errors="replace")
    assert booted.stdout.decode().startswith(f"program {name} argc=2\narg[1]=<hello>\n"), booted.stdout


def program(tools: Tools, folder: Path, name: str) -> Path:
    return tools.compile_c(PROGRAMS / "behave.c", folder / f"{name}.o", f'-DPROGRAM_NAME="{name}"')


def relink_and_boot(tools: Tools, obj: Path, output: Path, cache: Path, name: str) -> float:
    started = time.monotonic()
    tools.kraftld([str(obj), "-o", str(output)], env={"KRAFTLD_CACHE": str(cache)})
    elapsed = time.monotonic() - started
    assert_boots_as(tools, output, name)
    return elapsed


def cache_entry(tools: Tools, obj: Path, cache: Path) -> Path:
    plan = tools.kraftld(
        [str(obj), "-o", str(obj.parent / "dry")], env={"KRAFTLD_CACHE": str(cache), "KRAFTLD_DRY_RUN": "1"}
    )
    (line,) = [line for line in plan.stdout.splitlines() if line.startswith("cache folder: ")]
    return Path(line[len("cache folder: ") :])


@pytest.fixture(scope="module")
def warm_cache(tools: Tools, behave_image: Path) -> Path:
    """The session's cache, after a full build of the default configuration (behave_image's)."""
    return Path(tools.environ["KRAFTLD_CACHE"])


# --- signals during a cold build ---------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_a_cold_build_stops_everything(tools: Tools, tmp_path: Path, sig: signal.Signals) -> None:
    cache = tmp_path / "cache"
    name = f"cold-{sig.name.lower()}"
    obj = program(tools, tmp_path, name)
    output = tmp_path / "out" / "app"
    output.parent.mkdir()
    output.write_text("a stale image")
    Path(f"{output}.dbg").write_text("a stale debug image")

    link = start_link(tools, obj, output, cache)
    into = wait_for(link, compiling(link), "make compiling Unikraft")
    running = processes_of(link.token, cache)
    assert any(p.name == "make" for p in running), [str(p) for p in running]
    link.process.send_signal(sig)
    status, stderr = link.finish()

    assert status == SIGNAL_STATUS[sig], stderr
    assert ("kraftld: interrupted" if sig == signal.SIGINT else "kraftld: terminated") in stderr.splitlines(), stderr
    assert "Traceback" not in stderr, stderr
    left, lingered = wait_until_gone(link.token, cache, grace=5)
    assert not left, "still running after kraftld exited:\n" + "\n".join(map(str, left))
    assert_no_output(output)
    assert_locks_free(cache)

    relink = relink_and_boot(tools, obj, output, cache, name)
    print(
        f"{sig.name} {into:.1f} s into a cold build ({len(running)} processes of the build): "
        f"exit {status}, children gone {lingered:.2f} s after; the next link took {relink:.1f} s and boots"
    )


def test_sigkill_during_a_cold_build_leaves_a_cache_the_next_link_uses(tools: Tools, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    obj = program(tools, tmp_path, "after-sigkill")
    output = tmp_path / "app"

    link = start_link(tools, obj, output, cache)
    into = wait_for(link, compiling(link), "make compiling Unikraft")
    link.process.kill()
    status, _ = link.finish()
    assert status == -signal.SIGKILL

    # The kernel released kraftld's lock with its last descriptor: make never inherited it.
    assert_locks_free(cache)
    assert not os.path.lexists(output)
    orphans = stop_orphans(link.token, cache)
    assert not processes_of(link.token, cache)
    empty = sorted(p.name for p in cache.glob("builds/*/build/**/*.o") if p.stat().st_size == 0)

    started = time.monotonic()
    result = tools.kraftld([str(obj), "-o", str(output)], env={"KRAFTLD_CACHE": str(cache)}, check=False)
    relink = time.monotonic() - started
    assert result.returncode == 0, f"empty objects left in the build: {empty}\n{result.stderr}"
    assert_boots_as(tools, output, "after-sigkill")
    print(
        f"SIGKILL {into:.1f} s into a cold build: {len(orphans)} processes of the build still running "
        f"({sorted({p.name for p in orphans})}); the next link took {relink:.1f} s and boots"
    )


# --- signals during a relink ------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("mode", ["fast", "make"])
def test_signal_during_a_relink_stops_everything(
    tools: Tools, warm_cache: Path, tmp_path: Path, sig: signal.Signals, mode: str
) -> None:
    """A relink is short (a fast one replays the final link steps; KRAFTLD_FAST_RELINK=0 runs
    make): the signal goes out as soon as the relink's own work shows, and the test tries again
    should the relink win the race."""
    env = {"KRAFTLD_FAST_RELINK": "0"} if mode == "make" else {}
    name = f"relink-{mode}-{sig.name.lower()}"
    obj = program(tools, tmp_path, name)
    entry = cache_entry(tools, obj, warm_cache)
    output = tmp_path / "app"
    attempts = 0
    for _ in range(5):
        attempts += 1
        output.write_text("a stale image")
        log_size = (entry / "build.log").stat().st_size
        link = start_link(tools, obj, output, warm_cache, env)

        def relinking(link: Link = link, log_size: int = log_size) -> bool:
            if mode == "fast":
                links = entry / "links"
                return links.is_dir() and any(n.startswith(f"{link.process.pid}-") for n in os.listdir(links))
            with open(entry / "build.log", "rb") as handle:
                handle.seek(log_size)
                grown = handle.read()
            return b"UK_LDFLAGS=" in grown and any(p.name == "make" for p in processes_of(link.token, warm_cache))

        try:
            wait_for(link, relinking, f"the {mode} relink", timeout=60, poll=0.002)
        except AssertionError:
            if link.process.returncode == 0:
                continue  # the relink finished before the test saw it: try again
            raise
        link.process.send_signal(sig)
        status, stderr = link.finish()
        if status == 0:
            continue  # the signal came as the link ended
        break
    else:
        pytest.fail(f"five {mode} relinks finished before a signal could interrupt one")

    assert status == SIGNAL_STATUS[sig], stderr
    assert "Traceback" not in stderr, stderr
    left, lingered = wait_until_gone(link.token, warm_cache, grace=5)
    assert not left, "still running after kraftld exited:\n" + "\n".join(map(str, left))
    assert_no_output(output)
    assert_locks_free(warm_cache)
    links = entry / "links"
    if links.is_dir():
        assert not [n for n in os.listdir(links) if n.startswith(f"{link.process.pid}-")], "its relink folder stayed"

    relink = relink_and_boot(tools, obj, output, warm_cache, name)
    print(
        f"{sig.name} during a {mode} relink (attempt {attempts}): exit {status}, children gone "
        f"{lingered:.2f} s after; the next link took {relink:.1f} s and boots"
    )


# --- links at once -----------------------------------------------------------------------------


def link_at_once(tools: Tools, folder: Path, cache: Path, prefix: str) -> tuple[float, list[str]]:
    objects = [program(tools, folder, f"{prefix}{i}") for i in range(PARALLEL_LINKS)]
    started = time.monotonic()
    links = [start_link(tools, obj, folder / obj.stem, cache) for obj in objects]
    results = [link.finish(timeout=900) for link in links]
    elapsed = time.monotonic() - started
    failures = [
        f"{obj.stem}: {status}\n{stderr}" for obj, (status, stderr) in zip(objects, results, strict=True) if status != 0
    ]
    assert not failures, "\n".join(failures)
    for obj in objects:
        assert_boots_as(tools, folder / obj.stem, obj.stem)
    assert_locks_free(cache)
    return elapsed, [stderr for _, stderr in results]


@pytest.mark.parametrize("round_", range(STRESS_ROUNDS))
def test_eight_programs_linked_at_once_on_a_warm_cache(
    tools: Tools, warm_cache: Path, tmp_path: Path, round_: int
) -> None:
    elapsed, _ = link_at_once(tools, tmp_path, warm_cache, f"p{round_}-")
    print(f"round {round_ + 1}/{STRESS_ROUNDS}: {PARALLEL_LINKS} links on a warm cache in {elapsed:.1f} s, all boot")


def test_eight_programs_linked_at_once_on_a_cold_cache(tools: Tools, tmp_path: Path) -> None:
    """One link builds Unikraft; the others wait for its lock, then relink on what it built."""
    cache = tmp_path / "cache"
    elapsed, stderrs = link_at_once(tools, tmp_path, cache, "c")
    (log,) = cache.glob("builds/*/build.log")
    builds = log.read_text(errors="replace").count("UK_LDFLAGS=")
    waited = sum("waiting for another link" in stderr for stderr in stderrs)
    # One build; every other link found the entry held by it (or by a link relinking on it).
    assert builds == 1, f"{builds} links ran make"
    assert waited >= 1, "no link waited for the build"
    print(
        f"{PARALLEL_LINKS} links on a cold cache in {elapsed:.1f} s: {builds} ran make, the others relinked "
        f"fast; {waited} said they waited; all boot"
    )
