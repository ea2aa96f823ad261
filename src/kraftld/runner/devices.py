"""What the guest gets beyond its arguments — host environment variables, host folders, a network,
a debugger — turned into boot parameters and QEMU devices, after checking the image can use them.

Each feature rests on a Unikraft library and its boot parameter, found in the image itself (see
image.py); an image without them gets an error naming the Kraftfile options to add, not a guest
that silently ignores what it was given.
- `--env`: posix-environ's `env.vars` (CONFIG_LIBPOSIX_ENVIRON_LIBPARAM), up to its count;
- `--initrd` / the Kraftfile's `rootfs:`: QEMU's -initrd, extracted at / by vfscore's `extract`
  driver (ukcpio) through a `vfs.fstab` entry, into the RAM filesystem there (ramfs=2: one is
  mounted first if nothing is yet);
- `--volume`: vfscore's `vfs.fstab` (CONFIG_LIBVFSCORE_AUTOMOUNT_UP) mounting 9pfs over
  virtio-9p on PCI; each volume is one `-fsdev`/`virtio-9p-pci` pair with tag fsN;
- the network: a virtio-net card on QEMU's user-mode network when the image has the driver; the
  guest's address through uknetdev's `netdev.ip` (CONFIG_LIBUKNETDEV_EINFO_LIBPARAM), so it need
  not wait for DHCP.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import RunError
from .image import ImageFacts
from .qemu import Forward, Network, Share
from .rootfs import Initrd
from .settings import RunSettings, memory_mib

# QEMU's user network: the guest's address, the host seen from the guest (gateway and DNS).
GUEST_ADDRESS = "10.0.2.15/24"
HOST_ADDRESS = "10.0.2.2"
MS_RDONLY = 0x1  # vfscore's mount flag: writes fail with EROFS in the guest

# The largest guest memory an image without paging uses: Unikraft's boot page tables map the first
# 4 GiB only, and from 3.5 GiB on QEMU's pc machine moves all RAM above 3 GiB past 4 GiB. Measured
# (the heap a program gets): 3583M → 3558 MiB; 3584M, 4G, 8G → 3047 MiB. With paging
# (CONFIG_LIBUKVMEM, which brings ukfalloc) 8G → 8167 MiB. See the README's "Memory".
MAX_MEMORY_MIB_WITHOUT_PAGING = 3583
PAGING_LIBRARY = "libukfalloc"

ENV_OPTIONS = "CONFIG_LIBPOSIX_ENVIRON: y and CONFIG_LIBPOSIX_ENVIRON_LIBPARAM: y"
VOLUME_OPTIONS = (
    "CONFIG_LIBVFSCORE: y, CONFIG_LIBVFSCORE_AUTOMOUNT_UP: y, CONFIG_LIBUK9P: y, CONFIG_LIB9PFS: y, "
    "CONFIG_LIBVIRTIO_9P: y and CONFIG_LIBVIRTIO_PCI: y"
)
NETWORK_OPTIONS = (
    "CONFIG_LIBUKNETDEV: y, CONFIG_LIBUKNETDEV_EINFO_LIBPARAM: y, CONFIG_LIBVIRTIO_NET: y and "
    "CONFIG_LIBVIRTIO_PCI: y, and the lwip library"
)
INITRD_OPTIONS = "CONFIG_LIBVFSCORE_AUTOMOUNT_UP: y and CONFIG_LIBUKCPIO: y (with CONFIG_LIBRAMFS)"
INITRD_FSTAB = "initrd0:/:extract::ramfs=2"
INITRD_LIBRARIES = ("libvfscore", "libukcpio", "libramfs")
# The libraries each feature needs, by their uklibid names.
VOLUME_LIBRARIES = ("libvfscore", "lib9pfs", "libuk9p", "libvirtio_9p", "libvirtio_pci")
NETWORK_LIBRARIES = ("libuknetdev", "libvirtio_net", "libvirtio_pci")


@dataclass(frozen=True)
class GuestSetup:
    params: tuple[str, ...]  # boot parameters, unquoted, before the program's `--`
    shares: tuple[Share, ...]
    network: Network | None
    notes: tuple[str, ...]  # what -v reports: what is published where, which folders are shared


def _check_memory(settings: RunSettings, facts: ImageFacts | None) -> None:
    if facts is None or facts.has(PAGING_LIBRARY) or memory_mib(settings.memory) <= MAX_MEMORY_MIB_WITHOUT_PAGING:
        return
    raise RunError(
        f"guest memory {settings.memory} is more than this image can use ({MAX_MEMORY_MIB_WITHOUT_PAGING}M)",
        "without paging Unikraft maps the first 4 GiB only (plat/kvm/x86/pagetable64.S), and from 3.5 GiB on "
        f"QEMU moves all RAM above 3 GiB past 4 GiB: ask for {MAX_MEMORY_MIB_WITHOUT_PAGING}M or less, or turn "
        "paging on in the Kraftfile (CONFIG_LIBUKVMEM: y)",
    )


def guest_setup(settings: RunSettings, facts: ImageFacts | None, initrd: Initrd | None = None) -> GuestSetup:
    """The parameters and devices for `settings` (and the initrd it asks for, see rootfs.py);
    RunError if the image lacks what they need.

    `facts` None (an image this runner cannot read) checks nothing and passes everything on.
    """
    params: list[str] = []
    notes: list[str] = []
    _check_memory(settings, facts)
    fstab_entries = len(settings.volumes) + (initrd is not None)
    if initrd is not None:
        option = "--initrd" if initrd.origin == "--initrd" else "the Kraftfile's rootfs"
        _require_param(facts, "vfs.fstab", fstab_entries, option, INITRD_OPTIONS)
        _require_libraries(facts, INITRD_LIBRARIES, option, INITRD_OPTIONS)
        params.append(f"vfs.fstab={INITRD_FSTAB}")
        notes.append(f"initrd {initrd.path} ({initrd.origin}) extracted at /")
    if settings.env:
        _require_param(facts, "env.vars", len(settings.env), "--env", ENV_OPTIONS)
        params += [f"env.vars={name}={value}" for name, value in settings.env]
    shares = []
    for index, volume in enumerate(settings.volumes):
        if index == 0:
            _require_param(facts, "vfs.fstab", fstab_entries, "--volume", VOLUME_OPTIONS)
            _require_libraries(facts, VOLUME_LIBRARIES, "--volume", VOLUME_OPTIONS)
        tag = f"fs{index}"
        flags = MS_RDONLY if volume.read_only else 0
        shares.append(Share(tag, volume.host, volume.read_only))
        params.append(f"vfs.fstab={tag}:{volume.guest}:9pfs:{flags:#x}::mkmp")
        notes.append(f"shared {volume.host} at {volume.guest} ({'read-only' if volume.read_only else 'read-write'})")
    network = _network(settings, facts)
    if network is not None:
        if (
            not settings.dhcp
            and facts is not None
            and "netdev.ip" in facts.params
            and not _user_sets(settings, "netdev.ip")
        ):
            params.append(f"netdev.ip={GUEST_ADDRESS}:{HOST_ADDRESS}")
            notes.append(f"guest address {GUEST_ADDRESS} (given at boot), host {HOST_ADDRESS}")
        else:
            notes.append("guest address from QEMU's DHCP")
        notes += [f"published {p.describe()}" for p in settings.publish]
    params += settings.params
    return GuestSetup(tuple(params), tuple(shares), network, tuple(notes))


_OWN_NETWORK_ARGS = ("-netdev", "-nic", "-net")


def _network(settings: RunSettings, facts: ImageFacts | None) -> Network | None:
    if settings.net == "none":
        return None
    if any(arg in _OWN_NETWORK_ARGS for arg in settings.qemu_args):
        # The user brings a network of their own through QEMU's arguments: a second card with
        # the same id would only make QEMU refuse to start.
        if settings.publish:
            raise RunError(
                "--publish and a -netdev/-nic of your own in the QEMU arguments",
                "use one of them: -p, or your own netdev",
            )
        return None
    has_driver = facts is None or facts.has(*NETWORK_LIBRARIES)
    if settings.publish:
        _require_libraries(facts, NETWORK_LIBRARIES, "--publish", NETWORK_OPTIONS)
    elif not has_driver:
        if settings.net == "user":
            _require_libraries(facts, NETWORK_LIBRARIES, "--net user", NETWORK_OPTIONS)
        return None  # an image without a network driver gets no card
    forwards = tuple(Forward(p.protocol, p.host_ip, p.host_port, p.guest_port) for p in settings.publish)
    return Network(forwards)


def _user_sets(settings: RunSettings, name: str) -> bool:
    return any(param.partition("=")[0] == name for param in settings.params)


def _require_param(facts: ImageFacts | None, param: str, wanted: int, option: str, options: str) -> None:
    if facts is None:
        return
    if param not in facts.params:
        raise RunError(
            f"{option}: the image has no {param} boot parameter, so the guest cannot receive it",
            f"add {options} to the Kraftfile's kconfig and link again",
        )
    if wanted > facts.params[param]:
        raise RunError(
            f"{option} given {wanted} times; the image's {param} holds at most {facts.params[param]}",
            "give fewer, or raise the limit in the Kraftfile"
            + (" (CONFIG_LIBPOSIX_ENVIRON_LIBPARAM_MAXCOUNT)" if param == "env.vars" else ""),
        )


def _require_libraries(facts: ImageFacts | None, libraries: tuple[str, ...], option: str, options: str) -> None:
    if facts is None:
        return
    missing = [name for name in libraries if name not in facts.libraries]
    if missing:
        raise RunError(
            f"{option}: the image lacks {', '.join(missing)}",
            f"add {options} to the Kraftfile's kconfig and link again",
        )
