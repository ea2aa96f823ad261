"""Options a library brings with it when the Kraftfile names it, as a table: each row with its why.

Naming `lwip` in a Kraftfile is all a program should need for a network: the drivers for QEMU's
virtio-net card, the stack in its threaded mode with the socket API, an address at boot, and what
async runtimes (mio, tokio) need beside sockets. The rows go into the defconfig after kraftld's
defaults and before the Kraftfile's own options, so the Kraftfile can override any of them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PresetOption:
    option: str
    value: str
    why: str


LWIP = (
    # The card: QEMU's virtio-net, found on the PCI bus, driven through uknetdev.
    PresetOption("CONFIG_LIBUKNETDEV", "y", "lwIP drives network cards through Unikraft's uknetdev API"),
    PresetOption(
        "CONFIG_LIBUKNETDEV_EINFO_LIBPARAM",
        "y",
        "the guest's address can be given at boot (netdev.ip=ADDR/MASK:GATEWAY), which spares the DHCP wait",
    ),
    PresetOption("CONFIG_LIBUKBUS_PCI", "y", "QEMU's virtio-net-pci card sits on the PCI bus"),
    PresetOption("CONFIG_LIBVIRTIO_PCI", "y", "virtio's PCI transport, which the virtio-net-pci card uses"),
    PresetOption("CONFIG_LIBVIRTIO_NET", "y", "the driver of the virtio-net card kraftld-run gives the guest"),
    # The stack: threaded, so blocking sockets work beside the program's own threads.
    PresetOption("CONFIG_LWIP_UKNETDEV", "y", "lwIP's netif driver on top of uknetdev"),
    PresetOption("CONFIG_LWIP_THREADS", "y", "a thread of its own for the stack: the socket API needs it"),
    PresetOption(
        "CONFIG_LWIP_SOCKET",
        "y",
        "the POSIX socket API (socket, bind, accept, …) that libc, Rust's std::net and mio call",
    ),
    PresetOption("CONFIG_LWIP_AUTOIFACE", "y", "the card found at boot is attached to the stack without code"),
    PresetOption("CONFIG_LWIP_IPV4", "y", "QEMU's user network is IPv4 (guest 10.0.2.15, host 10.0.2.2)"),
    PresetOption("CONFIG_LWIP_TCP", "y", "TCP servers and clients"),
    PresetOption("CONFIG_LWIP_UDP", "y", "UDP sockets (DHCP needs UDP too)"),
    PresetOption(
        "CONFIG_LWIP_DHCP",
        "y",
        "an address from QEMU's DHCP server when none is given at boot (netdev.ip= wins when given)",
    ),
    PresetOption(
        "CONFIG_LWIP_WAITIFACE",
        "y",
        "main starts once the interface has its address, so a client's first connect does not fail "
        "(no wait with an address given at boot)",
    ),
    # Async Rust: mio (under tokio) waits in epoll and wakes itself through an eventfd; without
    # these, the runtime fails to start with ENOSYS.
    PresetOption("CONFIG_LIBPOSIX_POLL", "y", "poll, select and epoll, which mio (tokio) waits in"),
    PresetOption("CONFIG_LIBPOSIX_EVENTFD", "y", "eventfd, through which mio's waker interrupts epoll_wait"),
)

# Library name (as the Kraftfile's `libraries` key) → the options it brings.
LIBRARY_PRESETS: dict[str, tuple[PresetOption, ...]] = {
    "lwip": LWIP,
}


def preset_options(library: str) -> list[tuple[str, str]]:
    """The (option, value) pairs a library named in the Kraftfile brings, in the table's order."""
    return [(row.option, row.value) for row in LIBRARY_PRESETS.get(library, ())]
