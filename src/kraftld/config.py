"""Decides the Unikraft build a link needs: tree, libraries, target and Kconfig options.

Everything that determines the Unikraft part of the image is gathered into a `BuildConfig`,
and its `key` names the cache folder: two links with the same key share one Unikraft build.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from . import __version__
from .errors import ConfigError
from .kconfig_choice import drop_overridden_picks
from .kraftfile import Kraftfile, Target, kconfig_value
from .layout import CACHE_FORMAT  # the layout of a cache entry changes with it
from .presets import preset_options
from .sources import SourceTree

# Platforms kraftld builds for, with the options that select them.
PLATFORMS = {
    "qemu": (("CONFIG_PLAT_KVM", "y"), ("CONFIG_KVM_VMM_QEMU", "y")),
    "kvm": (("CONFIG_PLAT_KVM", "y"), ("CONFIG_KVM_VMM_QEMU", "y")),
    "fc": (("CONFIG_PLAT_KVM", "y"), ("CONFIG_KVM_VMM_FIRECRACKER", "y")),
    "firecracker": (("CONFIG_PLAT_KVM", "y"), ("CONFIG_KVM_VMM_FIRECRACKER", "y")),
}
# kraftld's runtime object speaks x86 port I/O (the serial line and isa-debug-exit).
ARCHITECTURES = {"x86_64": (("CONFIG_ARCH_X86_64", "y"),)}

# kraftld's defaults, before the Kraftfile's own options (which win):
KRAFTLD_DEFAULT_KCONFIG = (
    # The console carries the program's output: no banner, only critical kernel messages.
    ("CONFIG_LIBUKBOOT_BANNER_NONE", "y"),
    ("CONFIG_LIBUKDEBUG_PRINTK_CRIT", "y"),
    # Library parameters before `--` on the command line, the program's arguments after it:
    # kraftld-run relies on the separator.
    ("CONFIG_LIBUKLIBPARAM", "y"),
    # ukrandom needs RDRAND at boot and fails init without it (QEMU's default CPU under TCG).
    ("CONFIG_LIBUKRANDOM", "n"),
    # gcc's -g2, not Unikraft's default -g3: -g3 adds every macro definition of every source
    # file, 358 MB of the 367 MB prelinked libmusl.o, which the final link reads at every
    # relink. -g2 keeps what gdb uses (lines, locals, types, backtraces). A Kraftfile's own
    # CONFIG_DEBUG_SYMBOLS_* wins (kconfig_choice drops this pick).
    ("CONFIG_DEBUG_SYMBOLS_LVL2", "y"),
    # No build date in the image (libuklibid's metadata): a configuration built again, after
    # the cache bound removed it or from ccache, gives the same bytes as the first time.
    ("CONFIG_LIBUKLIBID_INFO_COMPILEDATE", "n"),
    # 4 MiB stacks for Unikraft's own threads, main() among them (2^10 pages; Unikraft's default is
    # 2^4, 64 KiB). C and Lua expect a main stack of megabytes (Linux gives 8 MiB): Lua's cstack
    # and locals tests overflowed 64 KiB and passed with 4 MiB (issue 16). Threads a program creates
    # (pthread_create, Rust's std::thread) get the stack musl maps for them at the size asked
    # (Rust: 2 MiB, RUST_MIN_STACK, Builder::stack_size), not this one. Each Unikraft thread (idle,
    # main, lwIP's) takes its stack from the heap; 103 MiB of a 128 MiB guest stay for the program.
    ("CONFIG_STACK_SIZE_PAGE_ORDER", "10"),
)


@dataclass(frozen=True)
class BuildConfig:
    name: str  # Unikraft's N=: the image's base name inside the build
    unikraft: SourceTree
    libraries: tuple[SourceTree, ...]
    target: Target
    defconfig: str

    @property
    def key(self) -> str:
        identity = {
            "format": CACHE_FORMAT,
            "kraftld": __version__,
            "name": self.name,
            # The trees' states: their commits and uncommitted changes (sources.worktree_state).
            "unikraft": [self.unikraft.path, self.unikraft.state or self.unikraft.commit],
            "libraries": [[lib.name, lib.path, lib.state or lib.commit] for lib in self.libraries],
            "target": self.target.label,
            "defconfig": self.defconfig,
        }
        encoded = json.dumps(identity, sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()[:20]


def select_target(kraftfile: Kraftfile, wanted: str | None) -> Target:
    targets = kraftfile.targets
    listing = ", ".join(_describe(t) for t in targets)
    where = kraftfile.path or "kraftld's default configuration"
    if wanted:
        matches = [t for t in targets if wanted in (t.name, t.label)]
        if not matches:
            raise ConfigError(
                f"KRAFTLD_TARGET={wanted!r} matches none of the targets in {where}: {listing}",
                "set KRAFTLD_TARGET to one of those names or plat/arch pairs",
            )
        if len(matches) > 1:
            raise ConfigError(
                f"KRAFTLD_TARGET={wanted!r} matches several targets in {where}: "
                + ", ".join(_describe(t) for t in matches),
                "give the targets distinct names and select one by name",
            )
        target = matches[0]
    elif len(targets) == 1:
        target = targets[0]
    else:
        raise ConfigError(
            f"{where} has several targets ({listing}) and KRAFTLD_TARGET chooses none",
            "set KRAFTLD_TARGET to a target's name or plat/arch",
        )
    if target.plat not in PLATFORMS:
        raise ConfigError(
            f"target {_describe(target)}: kraftld does not build for platform {target.plat!r}",
            f"use one of {', '.join(sorted(PLATFORMS))}",
        )
    if target.arch not in ARCHITECTURES:
        raise ConfigError(
            f"target {_describe(target)}: kraftld does not build for architecture {target.arch!r}",
            "kraftld builds x86_64 unikernels",
        )
    return target


def _describe(target: Target) -> str:
    return f"{target.name} ({target.label})" if target.name else target.label


def library_option(name: str) -> str:
    """The Kconfig option that enables a library: musl → CONFIG_LIBMUSL."""
    return "CONFIG_LIB" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def render_defconfig(kraftfile: Kraftfile, target: Target) -> str:
    """The defconfig text: the target, kraftld's defaults, the libraries with the options they bring
    (`presets`), then the Kraftfile's own options, which win."""
    options: list[tuple[str, str]] = []
    options += PLATFORMS[target.plat]
    options += ARCHITECTURES[target.arch]
    options += KRAFTLD_DEFAULT_KCONFIG
    options += [(library_option(lib.name), "y") for lib in kraftfile.libraries]
    for lib in kraftfile.libraries:
        options += preset_options(lib.name)
    options += rootfs_options(kraftfile.rootfs)
    options += kraftfile.unikraft.kconfig
    for lib in kraftfile.libraries:
        options += lib.kconfig
    options += target.kconfig
    options += environment_options(kraftfile.env)
    options = drop_overridden_picks(options)  # a Kraftfile's pick in a Kconfig choice replaces kraftld's
    # Kconfig keeps the last assignment of a symbol; keep only that one so the file reads clearly.
    last: dict[str, str] = {}
    for key, value in options:
        last.pop(key, None)
        last[key] = value
    lines = [f"# {key} is not set" if value == "n" else f"{key}={value}" for key, value in last.items()]
    return "\n".join(lines) + "\n"


# What extracts the Kraftfile's `rootfs` at / when kraftld-run boots the image with it as initrd
# (through vfscore's `vfs.fstab` boot parameter, see runner/devices.py): a RAM filesystem at /
# and Unikraft's cpio extractor.
ROOTFS_KCONFIG = (
    ("CONFIG_LIBVFSCORE", "y"),
    ("CONFIG_LIBRAMFS", "y"),
    ("CONFIG_LIBVFSCORE_AUTOMOUNT_CI", "y"),
    ("CONFIG_LIBVFSCORE_AUTOMOUNT_CI_RAMFS", "y"),
    ("CONFIG_LIBVFSCORE_AUTOMOUNT_UP", "y"),
    ("CONFIG_LIBUKCPIO", "y"),
)


def rootfs_options(rootfs: str | None) -> list[tuple[str, str]]:
    return list(ROOTFS_KCONFIG) if rootfs else []


# Unikraft's posix-environ holds the initial environment in ENVP0..ENVP15; ENVP0 is PATH=/bin.
MAX_ENVIRONMENT = 15


def environment_options(env: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """The Kraftfile's `env`, built into the image's initial environment."""
    if not env:
        return []
    if len(env) > MAX_ENVIRONMENT:
        raise ConfigError(
            f"the Kraftfile sets {len(env)} environment variables; Unikraft holds at most {MAX_ENVIRONMENT}",
            "set fewer variables in env",
        )
    options = [("CONFIG_LIBPOSIX_ENVIRON", "y")]
    options += [(f"CONFIG_LIBPOSIX_ENVIRON_ENVP{i}", kconfig_value(f"{k}={v}")) for i, (k, v) in enumerate(env, 1)]
    return options


def image_name(kraftfile: Kraftfile) -> str:
    """Unikraft's N=, made safe for make: letters, digits, `_` and `-`."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", kraftfile.name) or "app"
