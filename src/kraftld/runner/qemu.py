"""The QEMU command that boots an image, and what QEMU's exit status means: pure functions.

Exit codes QEMU ends with, and what they mean for an image linked by kraftld:
- 253 — kraftld's runtime wrote to isa-debug-exit ((0x7e << 1) | 1) after reporting the status
  on the console: the program exited, and the console marker carries its status;
- 85 — Unikraft's crash path wrote 42 to isa-debug-exit: a crash, abort or panic;
- 0 or 83 — Unikraft halted without kraftld's runtime reporting a status (a triple fault resets
  the machine, and -no-reboot turns the reset into a halt): counted as a crash;
- anything else — QEMU itself failed (a bad image, a missing device, KVM failing under it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

KRAFTLD_EXIT_CODE = (0x7E << 1) | 1
UNIKRAFT_CRASH_CODE = (42 << 1) | 1
UNIKRAFT_HALT_CODE = (41 << 1) | 1
UNIKRAFT_HALT_CODES = (0, UNIKRAFT_HALT_CODE)
# The statuses only the guest's debug-exit device produces: the guest ran to get there.
DEBUG_EXIT_CODES = frozenset({KRAFTLD_EXIT_CODE, UNIKRAFT_CRASH_CODE, UNIKRAFT_HALT_CODE})

CRASH_STATUS = 134  # what a shell reports for a process killed by SIGABRT
TIMEOUT_STATUS = 124  # what timeout(1) reports
RUNNER_FAILURE_STATUS = 125  # kraftld-run (or QEMU) could not run the image at all


class Accel(Enum):
    KVM = "kvm"
    TCG = "tcg"


@dataclass(frozen=True)
class Share:
    """A host folder the guest mounts over 9p, under `tag`."""

    tag: str
    host: str
    read_only: bool


@dataclass(frozen=True)
class Forward:
    """A host port forwarded into the guest by QEMU's user-mode network."""

    protocol: str  # "tcp" or "udp"
    host_ip: str
    host_port: int
    guest_port: int


@dataclass(frozen=True)
class Network:
    forwards: tuple[Forward, ...] = ()


@dataclass(frozen=True)
class BootOptions:
    qemu: str = "qemu-system-x86_64"
    memory: str = "128M"
    accel: Accel = Accel.TCG
    extra_args: tuple[str, ...] = ()
    shares: tuple[Share, ...] = ()
    network: Network | None = None
    gdb_port: int | None = None
    # A gdb stub on a Unix socket, the guest stopped: for the runner's own gdb (describe.py),
    # which must work where loopback does not (cargo run under `unshare -n`).
    gdb_socket: str | None = None
    params: tuple[str, ...] = field(default=())  # boot parameters before the `--`, unquoted
    initrd: str | None = None  # a cpio file QEMU loads beside the kernel (a multiboot module)


def quote_argument(arg: str) -> str:
    """Quote one argument for Unikraft's command-line parser (ukargparse).

    Inside single quotes ukargparse takes every character literally up to the next single quote;
    an argument holding one is written in double quotes, where `\\"` and `\\\\` are escapes.
    """
    if "'" not in arg:
        return f"'{arg}'"
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kernel_command_line(program_args: Sequence[str], seed: Sequence[int], params: Sequence[str] = ()) -> str:
    """Library parameters, `--`, then the program's arguments.

    Unikraft drops the `--` from argv only when a parameter precedes it; `kraftld.seed` always
    does (see kraftld_params.c).
    """
    words = "kraftld.seed=[" + " ".join(f"0x{word:016x}" for word in seed) + "]"
    return " ".join([words, *(quote_argument(p) for p in params), "--", *(quote_argument(a) for a in program_args)])


def _option_value(text: str) -> str:
    """A value inside a QEMU `-opt key=value,...` list: QEMU reads `,,` as one comma."""
    return text.replace(",", ",,")


def device_args(options: BootOptions) -> list[str]:
    """The devices beyond the console and the exit port: initrd, shared folders, network, debugger."""
    args: list[str] = []
    if options.initrd is not None:
        args += ["-initrd", options.initrd]
    for share in options.shares:
        fsdev = f"local,id={share.tag},path={_option_value(share.host)},security_model=none"
        if share.read_only:
            fsdev += ",readonly=on"
        args += ["-fsdev", fsdev, "-device", f"virtio-9p-pci,fsdev={share.tag},mount_tag={share.tag}"]
    if options.network is not None:
        netdev = "user,id=n0" + "".join(
            f",hostfwd={f.protocol}:{f.host_ip}:{f.host_port}-:{f.guest_port}" for f in options.network.forwards
        )
        args += ["-netdev", netdev, "-device", "virtio-net-pci,netdev=n0"]
    if options.gdb_port is not None:
        # -S: the guest waits, stopped before its first instruction, for the debugger to continue it.
        args += ["-gdb", f"tcp:127.0.0.1:{options.gdb_port}", "-S"]
    elif options.gdb_socket is not None:
        args += ["-gdb", f"unix:{_option_value(options.gdb_socket)},server=on,wait=off", "-S"]
    return args


def qemu_command(image: str, program_args: Sequence[str], options: BootOptions, seed: Sequence[int]) -> tuple[str, ...]:
    # -cpu max under TCG offers RDRAND, backed by the host's randomness; under KVM, the host's CPU.
    cpu = "host" if options.accel is Accel.KVM else "max"
    return (
        options.qemu,
        "-machine",
        f"accel={options.accel.value}",
        "-cpu",
        cpu,
        "-m",
        options.memory,
        "-nodefaults",
        "-display",
        "none",
        "-vga",
        "none",
        "-no-reboot",
        "-serial",
        "stdio",
        "-device",
        "isa-debug-exit,iobase=0x501,iosize=2",
        *device_args(options),
        "-kernel",
        image,
        "-append",
        kernel_command_line(program_args, seed, options.params),
        *options.extra_args,
    )


class Ending(Enum):
    EXITED = "exited"
    CRASHED = "crashed"
    HALTED_WITHOUT_STATUS = "halted without status"
    QEMU_FAILED = "qemu failed"
    TIMED_OUT = "timed out"


@dataclass(frozen=True)
class Outcome:
    ending: Ending
    status: int  # the runner's own exit status
    message: str | None  # one line for stderr, or None for a plain exit


def interpret(qemu_code: int, reported: int | None, timed_out: bool) -> Outcome:
    if timed_out:
        return Outcome(Ending.TIMED_OUT, TIMEOUT_STATUS, "the unikernel did not finish in time and was stopped")
    if qemu_code == KRAFTLD_EXIT_CODE and reported is not None:
        return Outcome(Ending.EXITED, reported & 0xFF, None)
    if qemu_code == UNIKRAFT_CRASH_CODE:
        return Outcome(Ending.CRASHED, CRASH_STATUS, "the unikernel crashed (a fault, abort or panic)")
    if qemu_code in UNIKRAFT_HALT_CODES:
        return Outcome(
            Ending.HALTED_WITHOUT_STATUS,
            CRASH_STATUS,
            "the unikernel halted without reporting an exit status "
            "(a triple fault resets it; an image not linked by kraftld reports none)",
        )
    return Outcome(Ending.QEMU_FAILED, RUNNER_FAILURE_STATUS, f"QEMU failed (exit status {qemu_code})")
