"""Boots an image for kraftld-run: picks the accelerator, boots once, and boots again under TCG
only when KVM failed before the guest ran; a libtest binary that aborted mid-run boots again
until its run is finished (aborted.py decides what each further boot runs, describe.py reads its
should_panic expectations from one more boot stopped for gdb).

The one place the runner starts QEMU (through process.start, or a starter a test injects) and
reads its console; the settings, the guest's devices and QEMU's command come in ready-made.
"""

from __future__ import annotations

import codecs
import contextlib
import glob
import mmap
import os
import re
import selectors
import shlex
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import BinaryIO

from ..errors import RunError
from ..logs import log
from ..process import stop_process_group
from . import aborted, describe, kvm, libtest, rootfs
from .console import ConsoleFilter
from .devices import guest_setup
from .image import ImageFacts, has_abort_harness, read_image
from .kvm import BootFacts, Verdict
from .process import Launch, Starter, start
from .qemu import (
    DEBUG_EXIT_CODES,
    Accel,
    BootOptions,
    Ending,
    Outcome,
    interpret,
    kernel_command_line,
    qemu_command,
)
from .settings import RunSettings

Notice = Callable[[str], None]  # a line for the user on stderr, whatever the log level
Sink = Callable[[bytes], None]  # where a boot's program output goes, as it arrives


@dataclass(frozen=True)
class Sinks:
    stdout: Sink
    stderr: Sink  # what the program wrote to fd 2 (console.py tells it apart)


CMDLINE_MAX_LEN = 4096
CMDLINE_MAX_WORDS = 60
CMDLINE_SLACK = 64  # QEMU's and the bootloader's own words around the line
_PLAIN_PATH = re.compile(r"[A-Za-z0-9._/+-]+")


@dataclass(frozen=True)
class AccelChoice:
    accel: Accel
    why: str
    verdict_file: str
    remembered: Verdict | None


def choose_accel(settings: RunSettings, offers_kvm: Callable[[], bool] = kvm.kernel_offers_kvm) -> AccelChoice:
    path = kvm.verdict_path(settings.cache, settings.qemu)
    if not offers_kvm():
        return AccelChoice(Accel.TCG, "/dev/kvm is missing or cannot create a virtual machine", path, None)
    remembered = kvm.remembered_verdict(path)
    if remembered is not None and not remembered.works:
        return AccelChoice(
            Accel.TCG, f"KVM failed here before ({remembered.reason}; remembered in {path})", path, remembered
        )
    if remembered is not None:
        return AccelChoice(Accel.KVM, f"/dev/kvm works and KVM ran a guest here before ({path})", path, remembered)
    return AccelChoice(Accel.KVM, "/dev/kvm works; first boot under KVM here, watched", path, None)


def run_image(
    settings: RunSettings,
    out: BinaryIO,
    notice: Notice,
    *,
    starter: Starter = start,
    offers_kvm: Callable[[], bool] = kvm.kernel_offers_kvm,
    guest_stderr: Sink | None = None,
) -> Outcome:
    """Boot the image as `settings` say; the program's stdout goes to `out`, what it wrote to
    fd 2 to `guest_stderr` (to `out` too when None)."""
    image_file = os.path.normpath(os.path.join(settings.cwd, settings.image))
    if not os.path.isfile(image_file):
        raise RunError(f"image not found: {settings.image}", "link it with kraftld first")
    initrd = rootfs.initrd_source(settings.initrd, settings.cwd)
    facts = read_image(image_file)
    invoke = _abort_harness(image_file, settings, facts, notice)
    if invoke:
        args, env = aborted.in_process(settings.args, settings.env)
        settings = replace(settings, args=args, env=env)
    setup = guest_setup(settings, facts, initrd)
    for port in [settings.gdb_port] if settings.gdb_port is not None else []:
        _check_port_free("127.0.0.1", port, "tcp", "--gdb")
    for publish in settings.publish:
        _check_port_free(publish.host_ip, publish.host_port, publish.protocol, "--publish")
    for line in setup.notes:
        log.info("%s", line)
    options = BootOptions(
        qemu=settings.qemu,
        memory=settings.memory,
        extra_args=settings.qemu_args,
        shares=setup.shares,
        network=setup.network,
        gdb_port=settings.gdb_port,
        params=setup.params,
    )
    if settings.gdb_port is not None:
        symbols = symbols_file(image_file)
        notice(
            f"kraftld-run: the guest waits for a debugger: "
            f"gdb {shlex.quote(symbols)} -ex 'target remote localhost:{settings.gdb_port}'"
        )
    choice = choose_accel(settings, offers_kvm)
    log.info("accelerator: %s (%s)", choice.accel.value.upper(), choice.why)
    started = time.monotonic()
    with _staged_image(settings.image, settings.cwd) as (image, folder):
        if initrd is not None:
            options = replace(options, initrd=rootfs.prepare(initrd, folder))
        shown = bytearray()

        def stream(data: bytes) -> None:
            out.write(data)
            out.flush()
            shown.extend(data)

        def stream_stderr(data: bytes) -> None:
            if guest_stderr is None:
                out.write(data)
                out.flush()
            else:
                guest_stderr(data)

        sinks = Sinks(stream, stream_stderr)
        outcome, accel = _first_boot(image, settings, options, choice, sinks, starter)
        first_output = shown.decode(errors="replace")
        if not aborted.should_finish(settings.args, outcome, first_output) or not is_libtest_harness(image_file):
            return outcome
        log.info("the test binary aborted before its summary: finishing the run in more boots")

        def boot_again(
            args: tuple[str, ...],
            out: aborted.Write | None = None,
            err: aborted.Write | None = None,
            env: aborted.Environment = (),
        ) -> tuple[Outcome, str, str]:
            captured, errors = bytearray(), bytearray()
            params = (*options.params, *(f"env.vars={name}={value}" for name, value in env))
            again, _ = _boot(
                image,
                settings,
                args,
                replace(options, accel=accel, params=params),
                Sinks(_captured_and_shown(captured, out), _captured_and_shown(errors, err)),
                starter,
            )
            return again, captured.decode(errors="replace"), errors.decode(errors="replace")

        def write_err(text: str) -> None:
            stream_stderr(text.encode())

        def write(text: str) -> None:
            out.write(text.encode())
            out.flush()

        def fits(args: tuple[str, ...]) -> bool:
            return fits_command_line(image, args, options.params)

        def launch_stopped(stub: str) -> subprocess.Popen[bytes]:
            # A boot for gdb only (describe.py): stopped at its first instruction, its console unread.
            stopped = replace(options, accel=accel, gdb_port=None, gdb_socket=stub)
            seed = [int.from_bytes(os.urandom(8), "little") for _ in range(4)]
            return starter(Launch(qemu_command(image, ("--list",), stopped, seed), settings.cwd))

        def expectations() -> tuple[describe.Expectations | str, int]:
            return describe.read_expectations(symbols_file(image_file), launch_stopped)

        return aborted.finish_run(
            settings.args,
            first_output,
            boot_again,
            fits,
            write,
            lambda: time.monotonic() - started,
            write_err,
            expectations,
            invoke,
        )


def _captured_and_shown(into: bytearray, live: Callable[[str], None] | None) -> Sink:
    """A sink keeping a boot's bytes, and passing them on as text as they come (a character
    split across two chunks waits for its second half)."""
    if live is None:
        return into.extend
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def sink(data: bytes) -> None:
        into.extend(data)
        text = decoder.decode(data)
        if text:
            live(text)

    return sink


def _first_boot(
    image: str, settings: RunSettings, options: BootOptions, choice: AccelChoice, sink: Sinks, starter: Starter
) -> tuple[Outcome, Accel]:
    """The boot as asked, under KVM with a fallback to TCG; the outcome and the accelerator that ran it."""
    if choice.accel is Accel.TCG:
        outcome, _ = _boot(image, settings, settings.args, replace(options, accel=Accel.TCG), sink, starter)
        return outcome, Accel.TCG
    outcome, facts = _boot(image, settings, settings.args, replace(options, accel=Accel.KVM), sink, starter)
    failure = kvm.kvm_failed_before_guest(facts)
    if failure is None:
        if choice.remembered is None:
            kvm.remember_verdict(choice.verdict_file, Verdict(True, "a guest ran under KVM"))
        return outcome, Accel.KVM
    log.info("accelerator: KVM failed before the guest ran (%s); booting again under TCG", failure)
    outcome, tcg_facts = _boot(image, settings, settings.args, replace(options, accel=Accel.TCG), sink, starter)
    if _guest_ran(tcg_facts):
        # Only now is it KVM's fault: the same boot ran under TCG.
        kvm.remember_verdict(choice.verdict_file, Verdict(False, failure))
        log.info("accelerator: TCG from now on (remembered in %s)", choice.verdict_file)
    return outcome, Accel.TCG


def _abort_harness(image_file: str, settings: RunSettings, facts: ImageFacts | None, notice: Notice) -> bool:
    """Whether the image is a test binary built with -Zpanic-abort-tests whose tests are to run
    in one process (aborted.in_process) and be judged by libtest's secondary mode: it needs two
    variables in the guest's environment beyond the user's."""
    if not libtest.split_args(settings.args).runs_tests or not is_libtest_harness(image_file):
        return False
    if not has_abort_harness(symbols_file(image_file)):
        return False
    room = facts.params.get("env.vars", 0) if facts is not None else 0
    if room < len(settings.env) + 2:
        notice(
            "kraftld-run: this test binary was built with -Zpanic-abort-tests, so it runs each test in a child "
            "process, which the guest cannot start; running its tests in one process takes two variables in "
            f"the guest's environment, and its env.vars holds {room} ({len(settings.env)} given): add "
            "CONFIG_LIBPOSIX_ENVIRON_LIBPARAM: y to the Kraftfile (or raise "
            "CONFIG_LIBPOSIX_ENVIRON_LIBPARAM_MAXCOUNT), or build the tests without -Zpanic-abort-tests"
        )
        return False
    return True


def is_libtest_harness(image: str) -> bool:
    """Whether the image holds libtest's own words: only then is its output read as a test run
    (a plain program that prints `running 1 test` and aborts keeps its 134)."""
    try:
        with open(image, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return data.find(libtest.HARNESS_SIGNATURE) != -1
    except (OSError, ValueError):
        return False


def fits_command_line(image_name: str, args: Sequence[str], params: Sequence[str]) -> bool:
    """Whether the program's arguments fit Unikraft's kernel command line (ukboot's defaults:
    CONFIG_LIBUKBOOT_CMDLINE_MAX_LEN 4096 bytes, CONFIG_LIBUKBOOT_MAXNBARGS 60 words, the
    kernel's name first); the words are counted generously, as if every space split one."""
    line = f"{image_name} " + kernel_command_line(args, [0, 0, 0, 0], params)
    return len(line.encode()) < CMDLINE_MAX_LEN - CMDLINE_SLACK and len(line.split()) <= CMDLINE_MAX_WORDS - 2


def symbols_file(image: str) -> str:
    """The image's twin with symbols: IMAGE.dbg beside it, or — cargo hard-links `target/…/NAME`
    from `deps/NAME-HASH`, and kraftld wrote `deps/NAME-HASH.dbg` — the .dbg of the same file."""
    if os.path.isfile(image + ".dbg"):
        return image + ".dbg"
    for candidate in sorted(glob.glob(os.path.join(glob.escape(os.path.dirname(image) or "."), "deps", "*.dbg"))):
        with contextlib.suppress(OSError):
            if os.path.samefile(candidate[: -len(".dbg")], image):
                return candidate
    return image


def _guest_ran(facts: BootFacts) -> bool:
    return facts.console_bytes > 0 or facts.qemu_code in DEBUG_EXIT_CODES


def _check_port_free(host: str, port: int, protocol: str, option: str) -> None:
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as probe:
        # As QEMU binds its forwards: a port whose last connections are in TIME_WAIT is free,
        # one something listens on is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise RunError(
                f"{option}: host port {host}:{port}/{protocol} is not free ({error.strerror})",
                "stop what uses it, or pick another port",
            ) from None


@contextlib.contextmanager
def _staged_image(image: str, cwd: str) -> Iterator[tuple[str, str]]:
    """The image's path for QEMU, and a temporary folder for the boots' own files.

    QEMU runs in the caller's folder (their relative paths in --qemu-arg stay theirs) and puts
    the kernel's path in front of the command line, as the program's argv[0]: the path as given
    when it is plain, as on Linux; else a link to it under a plain name in the temporary folder,
    where spaces or quotes cannot turn into arguments."""
    with tempfile.TemporaryDirectory(prefix="kraftld-run-") as folder:
        if _PLAIN_PATH.fullmatch(image) and os.path.isfile(os.path.join(cwd, image)):
            yield image, folder
            return
        name = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(image)) or "image"
        staged = os.path.join(folder, name)
        os.symlink(os.path.join(cwd, image), staged)
        yield staged, folder


def _boot(
    image: str, settings: RunSettings, args: Sequence[str], options: BootOptions, sink: Sinks, starter: Starter
) -> tuple[Outcome, BootFacts]:
    """Boot once with `args` as the program's: the outcome, and the facts the accelerator
    verdict rests on. The program's output goes to `sink` as it arrives."""
    seed = [int.from_bytes(os.urandom(8), "little") for _ in range(4)]
    command = qemu_command(image, args, options, seed)
    started = time.monotonic()
    qemu = starter(Launch(command, settings.cwd))
    console = ConsoleFilter()
    qemu_messages = bytearray()
    console_bytes = 0
    timed_out = False
    stopped_on_sign = False
    try:
        assert qemu.stdout is not None and qemu.stderr is not None
        with selectors.DefaultSelector() as selector:
            selector.register(qemu.stdout, selectors.EVENT_READ)
            selector.register(qemu.stderr, selectors.EVENT_READ)
            open_streams = 2
            while open_streams:
                wait = None
                if settings.timeout is not None:
                    wait = settings.timeout - (time.monotonic() - started)
                    if wait <= 0:
                        timed_out = True
                        break
                for key, _ in selector.select(wait):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        open_streams -= 1
                    elif key.fileobj is qemu.stdout:
                        console_bytes += len(chunk)
                        text, errors = console.split(chunk)
                        if text:
                            sink.stdout(text)
                        if errors:
                            sink.stderr(errors)
                    else:
                        qemu_messages += chunk
                        if (
                            options.accel is Accel.KVM
                            and not console_bytes
                            and kvm.shows_kvm_failure(qemu_messages.decode(errors="replace"))
                        ):
                            # QEMU may sit paused after a KVM internal error: stop it here.
                            stopped_on_sign = True
                            open_streams = 0
                            break
        if timed_out or stopped_on_sign:
            stop_process_group(qemu)
        code = qemu.wait()
    finally:
        if qemu.poll() is None:
            stop_process_group(qemu)
        rest, rest_errors = console.finish_split()
        if rest:
            sink.stdout(rest)
        if rest_errors:
            sink.stderr(rest_errors)
    messages = qemu_messages.decode(errors="replace").strip()
    if messages:
        log.debug("QEMU said: %s", messages)
    log.debug("QEMU exited with %d after %.2f s under %s", code, time.monotonic() - started, options.accel.value)
    outcome = interpret(code, console.status, timed_out)
    if outcome.ending is Ending.QEMU_FAILED and messages:
        outcome = replace(outcome, message=f"{outcome.message}: {messages.splitlines()[-1]}")
    return outcome, BootFacts(code, console_bytes, timed_out, stopped_on_sign, messages)
