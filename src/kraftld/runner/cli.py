"""The `kraftld-run` command: boots an image under QEMU and behaves like the program it holds.

`kraftld-run IMAGE [ARGS…]` is made to be cargo's `runner`: the program sees ARGS as its
argv[1..], what it writes to stdout and stderr arrives on the runner's (stderr as far as the
image's runtime marks it, see console.py), and its exit status becomes the runner's. A
crash gives 134, a guest stopped by KRAFTLD_RUN_TIMEOUT gives 124, and a runner that cannot boot
the image at all gives 125. No QEMU outlives the runner: Ctrl-C and SIGTERM stop it, and the
kernel kills it should the runner itself be killed.

This module is the boundary only: settings are read once (settings.py), errors become one line
and status 125 here, and signals become 128+N; the boot itself is boot.run_image.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from types import FrameType
from typing import BinaryIO, TextIO

from .. import __version__, logs
from ..errors import RunError
from .boot import run_image
from .process import Starter, start
from .qemu import RUNNER_FAILURE_STATUS
from .settings import DEFAULT_GDB_PORT, RunSettings, parse_run_args

USAGE = f"""\
usage: kraftld-run [options] IMAGE [ARGS...]

Boot a unikernel image linked by kraftld under QEMU, with ARGS as the program's arguments.
The program's stdout goes to stdout, its stderr to stderr (with lib-musl; nolibc's goes to
stdout), and its exit status is kraftld-run's. Every word after IMAGE is the program's,
unchanged (cargo test's --nocapture, --exact, --list ... included). A test binary that a panic
aborts (panic=abort) is finished in more boots, with libtest's summary and status (0 or 101).

options (before IMAGE):
  -e, --env NAME=VALUE   set an environment variable in the guest (repeatable); --env NAME
                         takes NAME's value from here. Needs posix-environ's boot parameter
                         (CONFIG_LIBPOSIX_ENVIRON_LIBPARAM) in the image
  -v, --volume HOST_DIR:GUEST_PATH[:ro]
                         share a host folder with the guest over 9p, read-only with :ro
                         (repeatable; -v followed by a word without ':' means --verbose)
  -p, --publish [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]
                         forward a host port (127.0.0.1 unless HOST_IP) into the guest
                         (repeatable; the image needs a network driver)
  --net none|user        no network card, or QEMU's user network (default when the image
                         has a network driver)
  --dhcp                 let the guest ask DHCP for its address instead of being given
                         10.0.2.15/24 at boot
  --initrd FILE|DIR      the guest's / starts with these files: a folder (packed into a cpio
                         archive for each run) or a cpio (newc) file. Default: the Kraftfile's
                         rootfs. Needs CONFIG_LIBUKCPIO and CONFIG_LIBVFSCORE_AUTOMOUNT_UP
  --param NAME=VALUE     one more Unikraft boot parameter, e.g. --param netdev.ip=... (repeatable)
  --gdb[=PORT]           start QEMU's gdb stub on localhost:PORT (default {DEFAULT_GDB_PORT}), the guest
                         stopped before its first instruction; prints the gdb command to attach
  --memory SIZE          guest memory, e.g. 256M (KRAFTLD_MEMORY; default 128M)
  --timeout SECS         stop the guest after SECS seconds, status 124 (KRAFTLD_RUN_TIMEOUT)
  --qemu-arg ARG         one more argument for QEMU (repeatable; KRAFTLD_QEMU_ARGS adds more);
                         QEMU runs in the current folder, so relative paths are yours
  --verbose              show the QEMU command, the accelerator and why, QEMU's own messages
  --version, -h/--help

exit status: the program's; 134 crash; 124 timeout; 125 kraftld-run could not boot the image.
"""


class Interrupted(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: BinaryIO | None = None,
    stderr: TextIO | None = None,
    starter: Starter = start,
    cwd: str | None = None,
) -> int:
    env = os.environ if environ is None else environ
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr
    try:
        request = parse_run_args(list(sys.argv[1:] if argv is None else argv), env, cwd)
    except RunError as error:
        err.write(error.render("kraftld-run"))
        return RUNNER_FAILURE_STATUS
    if request == "help":
        err.write(USAGE)
        return 0
    if request == "version":
        out.write(f"kraftld-run {__version__}\n".encode())
        out.flush()
        return 0
    assert isinstance(request, RunSettings)
    logs.configure("kraftld-run", request.log_level, err)

    def notice(line: str) -> None:
        err.write(line + "\n")
        err.flush()

    def guest_stderr(data: bytes) -> None:
        binary = getattr(err, "buffer", None)
        if binary is None:
            err.write(data.decode(errors="replace"))
        else:
            err.flush()
            binary.write(data)
            binary.flush()
        err.flush()

    with _signals_raise():
        try:
            outcome = run_image(request, out, notice, starter=starter, guest_stderr=guest_stderr)
        except RunError as error:
            err.write(error.render("kraftld-run"))
            return RUNNER_FAILURE_STATUS
        except Interrupted as stop:
            err.write(f"kraftld-run: stopped by {signal.Signals(stop.signum).name}\n")
            return 128 + stop.signum
    if outcome.message:
        err.write(f"kraftld-run: {outcome.message}\n")
    return outcome.status


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
