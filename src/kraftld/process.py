"""Runs subprocesses for the execution stage: logged shell-quoted, never through a shell.

The runner is injected (`commands.ProcessRunner`), so tests of the execution logic can record
commands instead of running them. Every process kraftld's link starts goes through `run_process`
but the head start's steps (`headstart`, which starts them before this module is imported) and
QEMU, which `kraftld-run` starts itself.
Children start in their own session: an interrupted kraftld stops the whole process group of a
make and all its compilers, and a terminal's Ctrl-C reaches kraftld alone, which then does that.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import signal
import subprocess
from collections import deque
from collections.abc import Callable, Mapping

# The command values live in `commands` (so the plan needs no subprocess); these names stay
# importable from here for code written against them.
from .commands import Command, Completed, LineSink, describe_failure
from .logs import log

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from typing import IO

    from .commands import ProcessRunner

__all__ = [
    "Command",
    "Completed",
    "describe_failure",
    "jobserver",
    "logged",
    "parent_death_signal",
    "run_process",
    "stop_process_group",
    "without_make_variables",
]


TAIL_LINES = 40

_PR_SET_PDEATHSIG = 1


def parent_death_signal(sig: int) -> Callable[[], None]:
    """A preexec function: the kernel sends `sig` to the child when kraftld dies, even by SIGKILL."""
    import ctypes

    # Looked up here, in kraftld: the forked child only makes the call.
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return arm


def run_process(command: Command, *, log_file: IO[str] | None = None, on_line: LineSink | None = None) -> Completed:
    """Run a command to completion, its stdout and stderr merged, into `log_file` and `on_line`.

    With a log file, the child is a build (make): it writes straight into the file and kraftld
    follows it, so a kraftld that dies leaves it no broken pipe to die on half-way through
    writing its outputs, and it gets SIGTERM should kraftld die, so make stops cleanly and
    removes what it was writing. Without one, the child is a short step (a link step, git, the
    runtime's compile) whose output is captured: it ends by itself within moments, and starting
    it without a pre-exec hook lets Python use vfork, which is faster.
    """
    start = 0
    if log_file is not None:
        log_file.flush()
        start = log_file.tell()
    try:
        child = subprocess.Popen(
            command.argv,
            cwd=command.cwd,
            env=None if command.env is None else dict(command.env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if log_file is None else log_file,
            stderr=subprocess.STDOUT,
            pass_fds=command.pass_fds,
            start_new_session=True,
            preexec_fn=None if log_file is None else parent_death_signal(signal.SIGTERM),
        )
    except FileNotFoundError:
        return Completed(command, 127, (f"{command.argv[0]}: command not found",))
    try:
        if log_file is None:
            assert child.stdout is not None
            output = child.stdout.read()
            returncode = child.wait()
            lines = output.decode(errors="replace").splitlines()
        else:
            returncode, lines = _follow(child, log_file.name, start, on_line)
    except BaseException:
        stop_process_group(child)
        raise
    return Completed(command, returncode, tuple(lines[-TAIL_LINES:]))


def _follow(child: subprocess.Popen[bytes], path: str, start: int, on_line: LineSink | None) -> tuple[int, list[str]]:
    """Wait for `child`, passing the lines it appends to `path` to `on_line`; return its last lines."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    pending = b""
    # A pidfd becomes readable the moment the child exits: no polling delay at the end.
    exited = os.pidfd_open(child.pid) if hasattr(os, "pidfd_open") else None
    try:
        with open(path, "rb") as reader:
            reader.seek(start)
            while True:
                returncode = child.poll()
                chunk = reader.read()
                if chunk:
                    *complete, pending = (pending + chunk).split(b"\n")
                    for raw in complete:
                        line = raw.decode(errors="replace")
                        tail.append(line)
                        if on_line is not None:
                            on_line(line + "\n")
                elif returncode is not None:
                    break
                elif exited is not None:
                    select.select([exited], [], [], 0.1)
                else:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        child.wait(timeout=0.1)
    finally:
        if exited is not None:
            os.close(exited)
    if pending:
        tail.append(pending.decode(errors="replace"))
    return returncode, list(tail)


def logged(runner: ProcessRunner) -> ProcessRunner:
    """A runner that logs every command, shell-quoted, before running it with `runner`."""

    def run(command: Command, *, log_file: IO[str] | None = None, on_line: LineSink | None = None) -> Completed:
        where = f"cd {shlex.quote(command.cwd)} && " if command.cwd else ""
        log.debug("run: %s%s", where, command.shell_quoted())
        completed = runner(command, log_file=log_file, on_line=on_line)
        log.debug("exit %d: %s", completed.returncode, command.argv[0])
        return completed

    return run


def stop_process_group(child: subprocess.Popen[str] | subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Stop a child and everything it started: SIGTERM to its group, SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, sig)
        try:
            child.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def jobserver(environ: Mapping[str, str]) -> tuple[dict[str, str], tuple[int, ...]] | None:
    """Cargo's jobserver, if it reached kraftld usable: the MAKEFLAGS for make and fds to keep.

    Cargo puts its jobserver in CARGO_MAKEFLAGS. Pipe-style jobservers name two file
    descriptors, which only help if they are open in this process; a fifo needs nothing more.
    """
    flags = environ.get("CARGO_MAKEFLAGS", "")
    for word in flags.split():
        for prefix in ("--jobserver-auth=", "--jobserver-fds="):
            if not word.startswith(prefix):
                continue
            value = word[len(prefix) :]
            if value.startswith("fifo:"):
                return {"MAKEFLAGS": flags}, ()
            try:
                fds = tuple(int(part) for part in value.split(","))
            except ValueError:
                return None
            if len(fds) != 2 or not all(_fd_open(fd) for fd in fds):
                return None
            return {"MAKEFLAGS": flags}, fds
    return None


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def without_make_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment minus an outer make's settings, whose jobserver fds would be stale here."""
    return {k: v for k, v in environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
