"""The `kraftld-run` command: boots an image under QEMU and behaves like the program it holds.

`kraftld-run IMAGE [ARGS…]` is made to be cargo's `runner`: the program sees ARGS as its
argv[1..], its console output arrives on stdout, and its exit status becomes the runner's. A
crash gives 134, a guest stopped by KRAFTLD_RUN_TIMEOUT gives 124, and a runner that cannot boot
the image at all gives 125. No QEMU outlives the runner: Ctrl-C and SIGTERM stop it, and the
kernel kills it should the runner itself be killed.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from types import FrameType
from typing import BinaryIO, TextIO

from . import __version__, kvm, logs
from .console import ConsoleFilter
from .environment import cache_dir
from .errors import RunError
from .logs import log
from .process import parent_death_signal, stop_process_group
from .qemu import RUNNER_FAILURE_STATUS, Accel, BootOptions, Ending, Outcome, interpret, qemu_command

USAGE = """\
usage: kraftld-run [options] IMAGE [ARGS...]

Boot a unikernel image linked by kraftld under QEMU, with ARGS as the program's arguments.
The program's output goes to stdout and its exit status is kraftld-run's.

options (before IMAGE):
  --memory SIZE     guest memory, e.g. 256M (KRAFTLD_MEMORY; default 128M)
  --timeout SECS    stop the guest after SECS seconds, status 124 (KRAFTLD_RUN_TIMEOUT)
  --qemu-arg ARG    one more argument for QEMU (repeatable; KRAFTLD_QEMU_ARGS adds more)
  -v, --verbose     show the QEMU command and QEMU's own messages
  --version, -h/--help
"""

_SIZE = re.compile(r"^[0-9]+[KMGT]?$", re.IGNORECASE)


class Interrupted(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@dataclass(frozen=True)
class RunRequest:
    image: str
    args: tuple[str, ...]
    options: BootOptions
    timeout: float | None
    verbose: bool


def parse_run_args(argv: Sequence[str], environ: Mapping[str, str]) -> RunRequest | str:
    """The request, or "help"/"version" when that was asked for."""
    memory = environ.get("KRAFTLD_MEMORY") or "128M"
    timeout_text = environ.get("KRAFTLD_RUN_TIMEOUT") or ""
    extra = shlex.split(environ.get("KRAFTLD_QEMU_ARGS", ""))
    verbose = False
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option == "--":
            break
        if option in ("-h", "--help"):
            return "help"
        if option == "--version":
            return "version"
        if option in ("-v", "--verbose"):
            verbose = True
        elif option in ("--memory", "--timeout", "--qemu-arg"):
            if not rest:
                raise RunError(f"{option} needs a value", f"write {option} VALUE before the image")
            value = rest.pop(0)
            if option == "--memory":
                memory = value
            elif option == "--timeout":
                timeout_text = value
            else:
                extra.append(value)
        else:
            raise RunError(f"unknown option {option}", "options go before the image; see kraftld-run --help")
    if not rest:
        raise RunError("no image named", "usage: kraftld-run [options] IMAGE [ARGS...]")
    if not _SIZE.match(memory):
        raise RunError(f"guest memory {memory!r} is not a size", "write it like 128M or 1G")
    return RunRequest(
        image=rest[0],
        args=tuple(rest[1:]),
        options=BootOptions(
            qemu=environ.get("KRAFTLD_QEMU") or "qemu-system-x86_64", memory=memory, extra_args=tuple(extra)
        ),
        timeout=_timeout(timeout_text),
        verbose=verbose,
    )


def _timeout(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise RunError(
            f"timeout {text!r} is not a number of seconds", "set KRAFTLD_RUN_TIMEOUT=30, for example"
        ) from None
    if value <= 0:
        raise RunError(f"timeout {text!r} must be more than 0 seconds", "leave it unset for no timeout")
    return value


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: BinaryIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    env = os.environ if environ is None else environ
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr
    try:
        request = parse_run_args(list(sys.argv[1:] if argv is None else argv), env)
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
    assert isinstance(request, RunRequest)
    logs.configure("kraftld-run", "debug" if request.verbose else env.get("KRAFTLD_LOG", "warning"), err)
    with _signals_raise():
        try:
            outcome = run_image(request, cache_dir(env), out)
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


def run_image(request: RunRequest, cache: str, out: BinaryIO) -> Outcome:
    if not os.path.isfile(request.image):
        raise RunError(f"image not found: {request.image}", "link it with kraftld first")
    verdict_file = kvm.verdict_path(cache, request.options.qemu)
    use_kvm = kvm.kernel_offers_kvm() and kvm.remembered_verdict(verdict_file) is not False
    with _staged_image(request.image) as image:
        if use_kvm:
            outcome, kvm_failed = _boot(image, request, replace(request.options, accel=Accel.KVM), out)
            if not kvm_failed:
                kvm.remember_verdict(verdict_file, True)
                return outcome
            log.info("KVM cannot run this guest here; booting under TCG instead")
            kvm.remember_verdict(verdict_file, False)
        outcome, _ = _boot(image, request, replace(request.options, accel=Accel.TCG), out)
        return outcome


@contextlib.contextmanager
def _staged_image(image: str) -> Iterator[str]:
    """The image under a plain path: QEMU puts the path in front of the kernel command line,
    where spaces or quotes would turn into arguments."""
    with tempfile.TemporaryDirectory(prefix="kraftld-run-") as folder:
        name = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(image)) or "image"
        staged = os.path.join(folder, name)
        os.symlink(os.path.abspath(image), staged)
        yield staged


def _boot(image: str, request: RunRequest, options: BootOptions, out: BinaryIO) -> tuple[Outcome, bool]:
    """Boot once. Returns the outcome, and whether KVM failed before the guest wrote anything."""
    seed = [int.from_bytes(os.urandom(8), "little") for _ in range(4)]
    command = qemu_command(os.path.basename(image), request.args, options, seed)
    log.debug("run: %s", shlex.join(command))
    started = time.monotonic()
    try:
        # Run from the image's folder so the kernel path, argv[0], is just the image's name.
        qemu = subprocess.Popen(
            command,
            cwd=os.path.dirname(image),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=parent_death_signal(signal.SIGKILL),  # no QEMU outlives the runner
        )
    except FileNotFoundError:
        raise RunError(
            f"QEMU not found: {options.qemu}",
            "install it (Debian: apt-get install qemu-system-x86) or set KRAFTLD_QEMU",
        ) from None
    console = ConsoleFilter()
    qemu_messages = bytearray()
    wrote = False
    timed_out = False
    try:
        assert qemu.stdout is not None and qemu.stderr is not None
        with selectors.DefaultSelector() as selector:
            selector.register(qemu.stdout, selectors.EVENT_READ)
            selector.register(qemu.stderr, selectors.EVENT_READ)
            open_streams = 2
            while open_streams:
                wait = None
                if request.timeout is not None:
                    wait = request.timeout - (time.monotonic() - started)
                    if wait <= 0:
                        timed_out = True
                        break
                for key, _ in selector.select(wait):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        open_streams -= 1
                    elif key.fileobj is qemu.stdout:
                        text = console.feed(chunk)
                        if text:
                            wrote = True
                            out.write(text)
                            out.flush()
                    else:
                        qemu_messages += chunk
                        if (
                            options.accel is Accel.KVM
                            and not wrote
                            and kvm.shows_kvm_failure(qemu_messages.decode(errors="replace"))
                        ):
                            stop_process_group(qemu)
                            return Outcome(Ending.QEMU_FAILED, RUNNER_FAILURE_STATUS, None), True
        if timed_out:
            stop_process_group(qemu)
        code = qemu.wait()
    finally:
        if qemu.poll() is None:
            stop_process_group(qemu)
        rest = console.finish()
        if rest:
            out.write(rest)
            out.flush()
    messages = qemu_messages.decode(errors="replace").strip()
    if messages:
        log.debug("QEMU said: %s", messages)
    log.debug("QEMU exited with %d after %.2f s", code, time.monotonic() - started)
    outcome = interpret(code, console.status, timed_out)
    if outcome.ending is Ending.QEMU_FAILED and messages:
        outcome = replace(outcome, message=f"{outcome.message}: {messages.splitlines()[-1]}")
    return outcome, False


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
