"""The runner's one way to start a process: logged shell-quoted, in a session of its own, killed
by the kernel should the runner die.

Every boot goes through `start`, and tests inject a starter of their own (a fake QEMU script is
still started by this one); the only other process kraftld-run starts is gdb, through `run_tool`,
to read a test binary's should_panic expectations (describe.py).
"""

from __future__ import annotations

import shlex
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import RunError
from ..logs import log
from ..process import parent_death_signal, stop_process_group


@dataclass(frozen=True)
class Launch:
    argv: tuple[str, ...]
    cwd: str


Starter = Callable[[Launch], "subprocess.Popen[bytes]"]


def start(launch: Launch) -> subprocess.Popen[bytes]:
    """Start `launch` with its stdout and stderr piped to the runner and no stdin."""
    log.debug("run: cd %s && %s", shlex.quote(launch.cwd), shlex.join(launch.argv))
    try:
        return subprocess.Popen(
            launch.argv,
            cwd=launch.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=parent_death_signal(signal.SIGKILL),  # no QEMU outlives the runner
        )
    except FileNotFoundError:
        raise RunError(
            f"QEMU not found: {launch.argv[0]}",
            "install it (Debian: apt-get install qemu-system-x86) or set KRAFTLD_QEMU",
        ) from None
    except PermissionError:
        raise RunError(f"QEMU cannot be run: {launch.argv[0]}", "check KRAFTLD_QEMU names an executable") from None


def run_tool(argv: Sequence[str], cwd: str, timeout: float) -> subprocess.CompletedProcess[str] | None:
    """Run a helper to its end, its output captured as text; None when it outlived `timeout`
    (it is killed then, its whole session with it)."""
    log.debug("run: cd %s && %s", shlex.quote(cwd), shlex.join(argv))
    child = subprocess.Popen(
        list(argv),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
        preexec_fn=parent_death_signal(signal.SIGKILL),
    )
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process_group(child)
        child.communicate()
        return None
    return subprocess.CompletedProcess(list(argv), child.returncode, out, err)
