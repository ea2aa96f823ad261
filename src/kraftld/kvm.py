"""Decides whether QEMU can use KVM here: detected, never assumed.

/dev/kvm can exist, open, and create a virtual machine, yet fail on the first instruction it
must emulate (nested virtualisation without the needed support does exactly that). So the
decision has two steps: the kernel interface is checked first (cheap, and enough to rule KVM
out), and the first real boot under KVM is watched; if QEMU reports a KVM failure before the
guest has written anything, the boot is redone under TCG and the verdict is remembered.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

from .layout import CacheLayout

KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
KVM_API_VERSION = 12

# What QEMU prints when KVM cannot run the guest.
FAILURE_SIGNS = ("KVM internal error", "emulation failure", "failed to initialize kvm", "Could not access KVM")


def kernel_offers_kvm(device: str = "/dev/kvm") -> bool:
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


def verdict_path(cache: str, qemu: str) -> str:
    return CacheLayout(cache).kvm_verdict(os.uname().release, qemu)


def remembered_verdict(path: str) -> bool | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() == "works"
    except OSError:
        return None


def remember_verdict(path: str, works: bool) -> None:
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("works\n" if works else "fails\n")
