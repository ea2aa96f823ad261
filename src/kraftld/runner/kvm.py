"""Whether QEMU can use KVM here: the kernel interface, the remembered verdict, and the rule that
judges a KVM boot by what happened.

/dev/kvm can exist, open and create a virtual machine, and QEMU still fail before the guest runs:
one host reports "KVM internal error" (nested virtualisation without the needed support), another
aborts in `kvm_buf_set_msrs` (SIGABRT, after "failed to set MSR 0x10a") — this project's own
machines do. A rule built on QEMU's messages meets the next host's new message, so the rule here
rests on facts: the guest wrote nothing to its console, and QEMU ended by a signal or with a
non-zero status the debug-exit device does not carry. Known messages only let the runner stop a
QEMU that would otherwise sit there (a KVM internal error pauses the machine, it does not exit).
"""

from __future__ import annotations

import fcntl
import os
import signal
from dataclasses import dataclass

from ..atomic import write_atomically
from ..layout import CacheLayout
from .qemu import DEBUG_EXIT_CODES

KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
KVM_API_VERSION = 12

# What QEMU prints when KVM cannot run the guest. QEMU may keep running after printing the first
# two (the machine is paused), so seeing one before the guest wrote anything ends the boot. Not
# needed for QEMUs that end by themselves (this project's machines: SIGABRT): the rule sees that.
FAILURE_SIGNS = (
    "KVM internal error",
    "emulation failure",
    "failed to initialize kvm",
    "Could not access KVM",
)


def kernel_offers_kvm(device: str = "/dev/kvm") -> bool:
    """The kernel interface answers: the device opens, speaks API 12 and creates a VM."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if fcntl.ioctl(fd, KVM_GET_API_VERSION) != KVM_API_VERSION:
            return False
        vm = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
        os.close(vm)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def shows_kvm_failure(qemu_stderr: str) -> bool:
    return any(sign in qemu_stderr for sign in FAILURE_SIGNS)


@dataclass(frozen=True)
class BootFacts:
    """What one boot showed, as far as the accelerator verdict is concerned."""

    qemu_code: int  # QEMU's exit status; negative: the signal that ended it
    console_bytes: int  # bytes the guest wrote to its serial console, the exit marker included
    timed_out: bool
    stopped_on_sign: bool  # the runner stopped QEMU because its stderr showed a known KVM failure
    messages: str  # QEMU's stderr


def kvm_failed_before_guest(facts: BootFacts) -> str | None:
    """Why this KVM boot failed before the guest ran, or None if the guest ran (or may have).

    A guest that wrote anything ran, whatever happened next: it is never booted twice. A timeout
    is not a KVM failure either: a guest may run silently for long.
    """
    if facts.console_bytes or facts.timed_out:
        return None
    if facts.stopped_on_sign:
        return f"QEMU reported a KVM failure: {_last_line(facts.messages)}"
    if facts.qemu_code < 0:
        try:
            name = signal.Signals(-facts.qemu_code).name
        except ValueError:
            name = f"signal {-facts.qemu_code}"
        return f"QEMU was killed by {name}" + (f": {_last_line(facts.messages)}" if facts.messages.strip() else "")
    if facts.qemu_code != 0 and facts.qemu_code not in DEBUG_EXIT_CODES:
        said = f": {_last_line(facts.messages)}" if facts.messages.strip() else " and said nothing"
        return f"QEMU exited with status {facts.qemu_code}{said}"
    return None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def verdict_path(cache: str, qemu: str) -> str:
    """The verdict's file: one per kernel release and QEMU binary (see the cache layout)."""
    return CacheLayout(cache).kvm_verdict(os.uname().release, qemu)


@dataclass(frozen=True)
class Verdict:
    works: bool
    reason: str


def remembered_verdict(path: str) -> Verdict | None:
    """The verdict written by an earlier run, or None: none yet, unreadable or torn (unknown)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return None
    word, _, reason = text.partition("\n")
    if not text.endswith("\n"):  # every verdict ends with a line break: a torn one does not
        return None
    if word == "works":
        return Verdict(True, reason.strip())
    if word == "fails":
        return Verdict(False, reason.strip())
    return None


def remember_verdict(path: str, verdict: Verdict) -> None:
    """Write the verdict atomically: a reader sees the old file or the whole new one."""
    body = ("works" if verdict.works else "fails") + "\n" + " ".join(verdict.reason.split()) + "\n"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomically(path, body.encode(), 0o644)
    except OSError:
        # A cache that cannot be written costs only the next run's first attempt under KVM.
        pass
