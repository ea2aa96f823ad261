"""Chooses the Unikraft libraries and options a link needs from the symbols its inputs leave undefined.

The rules are data: `RULES` maps symbols to the libraries and Kconfig options they call for,
each row with its why (`kraftld --explain-libraries` prints them). Beyond the rules, every
symbol must be exported by some available library: a core library's `exportsyms.uk` (whose
library is then enabled), nolibc when that suffices, else lib-musl. The choice is expressed as
a Kraftfile (`apply`), so it keys the build cache like any configuration and
`--print-kraftfile` can write it out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .commands import Command, Completed
from .config import library_option
from .elf import FileKind
from .errors import ConfigError, InputError
from .exports import CoreExports
from .kraftfile import Component, Kraftfile
from .presets import preset_options
from .symbols import Member, Needed, read_file_symbols, resolve_needed

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from .commands import ProcessRunner
    from .resolve import ResolvedLink
    from .settings import Settings

Options = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Rule:
    name: str
    symbols: frozenset[str]
    libraries: tuple[str, ...]  # external Unikraft libraries (lib-<name>) the rule needs
    kconfig: Options
    why: str


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


RAM_ROOT: Options = (
    ("CONFIG_LIBVFSCORE", "y"),
    ("CONFIG_LIBRAMFS", "y"),
    ("CONFIG_LIBVFSCORE_AUTOMOUNT_CI", "y"),
    ("CONFIG_LIBVFSCORE_AUTOMOUNT_CI_RAMFS", "y"),
)
RULES: tuple[Rule, ...] = (
    Rule(
        "threads",
        _names("pthread_create thrd_create"),
        ("musl",),
        (("CONFIG_LIBUKBOOT_MAINTHREAD", "y"),),
        "threads are created: pthreads come with lib-musl, and main() runs in a thread of its own so "
        "the scheduler can run others beside it",
    ),
    Rule(
        "environment",
        _names("getenv secure_getenv setenv unsetenv putenv clearenv environ __environ"),
        (),
        (("CONFIG_LIBPOSIX_ENVIRON", "y"), ("CONFIG_LIBPOSIX_ENVIRON_LIBPARAM", "y")),
        "the environment is read: posix-environ holds it and takes variables from the boot parameter "
        "env.vars, which kraftld-run --env sets",
    ),
    Rule(
        "files",
        _names(
            "open open64 openat openat64 creat creat64 fopen fopen64 mkdir mkdirat opendir fdopendir "
            "stat stat64 lstat lstat64 fstatat fstatat64 statx unlink unlinkat rename renameat rmdir "
            "truncate truncate64 realpath chdir getcwd"
        ),
        (),
        RAM_ROOT,
        "files are opened or created: a RAM filesystem is mounted at / at boot (vfscore's automount), "
        "so a program can write and read files without any host folder",
    ),
    Rule(
        "sockets",
        _names(
            "socket socketpair accept accept4 bind connect listen getaddrinfo freeaddrinfo gethostbyname "
            "gethostbyname_r getnameinfo sendto recvfrom sendmsg recvmsg setsockopt getsockopt getpeername getsockname"
        ),
        ("musl", "lwip"),
        (),  # naming lwip brings its options (presets.py): drivers, stack, DHCP, epoll and eventfd
        "sockets are used: lwIP (with lib-musl's socket calls) gives TCP/IPv4 sockets, DHCP and the "
        "virtio-net driver, which kraftld-run's QEMU network offers",
    ),
    Rule(
        "poll",
        # Not `poll` alone: Rust std's start-up polls fds 0-2 in every program and copes with ENOSYS.
        _names("ppoll select pselect epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2"),
        (),
        (("CONFIG_LIBPOSIX_POLL", "y"),),
        "file descriptors are polled (mio and tokio use epoll): posix-poll implements poll, select and epoll",
    ),
    Rule(
        "eventfd",
        _names("eventfd eventfd_read eventfd_write"),
        (),
        (("CONFIG_LIBPOSIX_EVENTFD", "y"),),
        "eventfd is used (mio's and tokio's waker): posix-eventfd implements it",
    ),
)

LIBC_WHY = {
    "nolibc": "every libc symbol the program needs is in nolibc, Unikraft's minimal libc (its default)",
    "musl": "the program needs libc beyond nolibc: lib-musl provides it",
}
# Names the link defines for itself, or Unikraft's platform code does for every image: none of
# them is in an exportsyms.uk, and none calls for a library.
ALWAYS_PROVIDED_PREFIXES = ("ukplat_", "ukarch_", "_ukplat", "__uk", "_uk", "uk_")
ALWAYS_PROVIDED = frozenset({"_GLOBAL_OFFSET_TABLE_", "__dso_handle", "_DYNAMIC"})
# Libraries that exist outside the offline mirror, for the hint of an error: (pattern, library).
ELSEWHERE: tuple[tuple[str, str], ...] = (
    (r"^(SSL|TLS|ERR|EVP|BIO|X509|PEM|RAND|CRYPTO|OPENSSL)_", "lib-openssl"),
    (r"^(deflate|inflate|compress|uncompress|crc32|adler32|gz)", "lib-zlib"),
    (r"^sqlite3_", "lib-sqlite"),
    (r"^(__cxa_|__gxx_|_ZSt|_ZNSt|_ZTV|_ZTI|_Znw|_Zdl|_Zna|_Zda)", "lib-libcxx and lib-libcxxabi"),
    (r"^_Unwind_", "lib-libunwind"),
    (r"^ffi_", "lib-libffi"),
    (r"^(uuid_)", "lib-libuuid"),
    (r"^(socket|bind|connect|listen|accept|getaddrinfo)$", "lib-lwip"),
    (r"^(pthread_|sem_|thrd_|mtx_|cnd_)", "lib-musl"),
)


@dataclass(frozen=True)
class Reason:
    """One chosen library or option set, and what in the link called for it."""

    what: str  # "lib-musl", "core library vfscore", "rule files"
    why: str
    needed_by: Mapping[str, tuple[str, ...]]  # input → the symbols that required it
    kconfig: Options = ()
    libraries: tuple[str, ...] = ()  # the external libraries it brings


@dataclass(frozen=True)
class Selection:
    libc: str  # "nolibc" or "musl"
    libraries: tuple[str, ...]  # external libraries, in the order they are added
    kconfig: Options
    reasons: tuple[Reason, ...]
    unprovided: tuple[str, ...] = ()  # symbols only the musl table could have judged (no table)


@dataclass(frozen=True)
class Available:
    """What the libraries at hand export: the core's lists, musl's table (None: unknown), and
    which external libraries can be had."""

    core: CoreExports
    musl: frozenset[str] | None
    external: frozenset[str]  # names of external libraries the sources offer (musl, lwip)
    linker_defined: frozenset[str] = frozenset()


def _always_provided(symbol: str, available: Available) -> bool:
    return (
        symbol in ALWAYS_PROVIDED or symbol in available.linker_defined or symbol.startswith(ALWAYS_PROVIDED_PREFIXES)
    )


def select(needed: Needed, available: Available) -> Selection:
    """The libraries and options for `needed`; raises ConfigError for symbols nothing provides."""
    wanted = {s: users for s, users in needed.symbols.items() if not _always_provided(s, available)}
    fired = [rule for rule in RULES if rule.symbols & wanted.keys()]
    core = available.core
    beyond_core = {s for s in wanted if not core.providers(s)}
    musl = bool(beyond_core) or any("musl" in rule.libraries for rule in fired)
    reasons: list[Reason] = []
    libraries: list[str] = []
    kconfig: list[tuple[str, str]] = []

    unprovided: tuple[str, ...] = ()
    if musl:
        if available.musl is not None:
            missing = sorted(s for s in beyond_core if s not in available.musl)
            if missing:
                raise unprovided_error(missing, needed)
            libc_symbols = {s for s in wanted if s in available.musl}
        else:
            libc_symbols = set(beyond_core)
            unprovided = tuple(sorted(beyond_core))
        if "musl" not in available.external:
            raise ConfigError(
                "the program needs lib-musl, and the sources at hand have none",
                "add lib-musl to the KRAFTLD_SOURCES mirror, or name it in a Kraftfile",
                details=_listing(needed, sorted(beyond_core or libc_symbols)),
            )
        libraries.append("musl")
        reasons.append(
            Reason("lib-musl", LIBC_WHY["musl"], _by_input(needed, beyond_core or libc_symbols), (), ("musl",))
        )
        for_core = {s for s in wanted if s not in libc_symbols}
    else:
        reasons.append(
            Reason(
                "nolibc", LIBC_WHY["nolibc"], _by_input(needed, {s for s in wanted if "nolibc" in core.providers(s)})
            )
        )
        for_core = {s for s in wanted if "nolibc" not in core.providers(s)}

    # Core libraries for what libc does not cover: each symbol's exporting library is enabled.
    per_library: dict[str, set[str]] = {}
    for symbol in for_core:
        providers = [p for p in core.providers(symbol) if p != "nolibc"]
        if providers:
            per_library.setdefault(providers[0], set()).add(symbol)
    for name in sorted(per_library):
        option = ((library_option(name), "y"),)
        kconfig.extend(option)
        reasons.append(
            Reason(
                f"core library {name}",
                "it exports these symbols (its exportsyms.uk)",
                _by_input(needed, per_library[name]),
                option,
            )
        )

    for rule in fired:
        for library in rule.libraries:
            if library not in available.external:
                raise ConfigError(
                    f"the program needs lib-{library} ({rule.name}), and the sources at hand have none",
                    f"add lib-{library} to the KRAFTLD_SOURCES mirror, or write a Kraftfile without it",
                    details=_listing(needed, sorted(rule.symbols & wanted.keys())),
                )
            if library not in libraries:
                libraries.append(library)
        kconfig.extend(rule.kconfig)
        reasons.append(
            Reason(
                f"rule {rule.name}",
                rule.why,
                _by_input(needed, rule.symbols & wanted.keys()),
                rule.kconfig,
                rule.libraries,
            )
        )
    return Selection("musl" if musl else "nolibc", tuple(libraries), _last_wins(kconfig), tuple(reasons), unprovided)


def _last_wins(options: Iterable[tuple[str, str]]) -> Options:
    last: dict[str, str] = {}
    for key, value in options:
        last.pop(key, None)
        last[key] = value
    return tuple(last.items())


def _by_input(needed: Needed, symbols: Iterable[str]) -> dict[str, tuple[str, ...]]:
    return {user: tuple(names) for user, names in needed.by_input(symbols).items()}


def _listing(needed: Needed, symbols: list[str], limit: int = 20) -> list[str]:
    lines = []
    for user, names in needed.by_input(symbols).items():
        shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
        lines.append(f"  {user} needs {shown}")
    return lines


def nearest_elsewhere(symbols: Iterable[str]) -> list[str]:
    found: list[str] = []
    for symbol in symbols:
        for pattern, library in ELSEWHERE:
            if re.search(pattern, symbol) and library not in found:
                found.append(library)
    return found


def unprovided_error(missing: list[str], needed: Needed) -> ConfigError:
    elsewhere = nearest_elsewhere(missing)
    hint = (
        f"these may come from {', '.join(elsewhere)} (not in the sources at hand): add it to the mirror and name "
        "it in a Kraftfile, or link an archive that defines them"
        if elsewhere
        else "link the object or archive that defines them, or name the Unikraft library that does in a Kraftfile"
    )
    shown = ", ".join(missing[:12]) + (f" and {len(missing) - 12} more" if len(missing) > 12 else "")
    return ConfigError(
        f"no available Unikraft library provides {shown}",
        hint,
        details=["symbols and the inputs needing them:", *_listing(needed, missing)],
    )


def apply(kraftfile: Kraftfile, selection: Selection) -> Kraftfile:
    """The Kraftfile equivalent to `kraftfile` with the chosen libraries and options: the chosen
    options come first, so the Kraftfile's own options win."""
    named = {lib.name for lib in kraftfile.libraries}
    libraries = kraftfile.libraries + tuple(Component(name) for name in selection.libraries if name not in named)
    unikraft = dataclasses.replace(
        kraftfile.unikraft, kconfig=_last_wins(selection.kconfig + kraftfile.unikraft.kconfig)
    )
    return dataclasses.replace(kraftfile, libraries=libraries, unikraft=unikraft, auto_libraries=False)


def explain() -> str:
    """The rule table as `kraftld --explain-libraries` prints it."""
    lines = [
        "How kraftld chooses Unikraft libraries when no Kraftfile names them (or it says `libraries: auto`):",
        "",
        "It reads the symbols the link's inputs leave undefined (objects, and the archive members the",
        "link pulls in; with --gc-sections, as rustc links, only references reachable from main, the",
        "constructors and the sections Unikraft keeps) and matches them against what the available",
        "libraries export:",
        f"  nolibc   {LIBC_WHY['nolibc']}",
        f"  musl     {LIBC_WHY['musl']}",
        "  core     a symbol exported by a core library's exportsyms.uk enables that library (CONFIG_LIB<NAME>)",
        "  none     an error naming the symbols and the inputs needing them",
        "",
        "Rules (symbols → libraries and options):",
    ]
    for rule in RULES:
        lines.append(f"  {rule.name}: {rule.why}")
        lines.append(f"    when: {' '.join(sorted(rule.symbols))}")
        if rule.libraries:
            lines.append(f"    libraries: {', '.join('lib-' + name for name in rule.libraries)}")
        if rule.kconfig:
            lines.append(f"    options: {' '.join(f'{k}={v}' for k, v in rule.kconfig)}")
        for name in rule.libraries:
            brought = preset_options(name)
            if brought:
                lines.append(f"    lib-{name} brings: {' '.join(f'{k}={v}' for k, v in brought)}")
    lines.append("")
    lines.append(
        "Never needing a library: "
        + " ".join(sorted(ALWAYS_PROVIDED))
        + ", names Unikraft's linker scripts define, and names starting "
        + " ".join(ALWAYS_PROVIDED_PREFIXES)
    )
    return "\n".join(lines) + "\n"


def choose(
    kraftfile: Kraftfile, link: ResolvedLink, settings: Settings, runner: ProcessRunner
) -> tuple[Kraftfile, Selection]:
    """Read the link's symbols and what the sources at hand export; choose; return the
    equivalent Kraftfile and the selection that made it."""
    from .exports import find_musl_tarball, musl_exports, unikraft_offers
    from .sources import git_commit, locate

    uk_path = locate(kraftfile.unikraft, settings, kraftfile.folder, runner, clone=not settings.dry_run)
    inputs = [
        read_file_symbols(f.path, f.original, f.kind is not FileKind.OBJECT, settings.cache, runner)
        for f in link.files
        if f.kind in (FileKind.OBJECT, FileKind.ARCHIVE, FileKind.THIN_ARCHIVE)
    ]
    needed = resolve_needed(inputs, runtime_definitions(settings, runner), gc_sections=gc_sections(link))
    external = external_libraries(settings)
    musl: frozenset[str] | None = None
    if "musl" in external:
        lib_musl = locate(Component("musl"), settings, kraftfile.folder, runner, clone=False)
        tarball = find_musl_tarball(lib_musl, settings.sources, settings.cache) if os.path.isdir(lib_musl) else None
        if tarball is not None:
            musl = musl_exports(lib_musl, tarball, settings.cache)
    core, linker_defined = unikraft_offers(uk_path, git_commit(uk_path, runner), settings.cache)
    available = Available(core, musl, frozenset(external), linker_defined)
    selection = select(needed, available)
    return apply(kraftfile, selection), selection


def gc_sections(link: ResolvedLink) -> bool:
    """Whether the final link drops unreferenced sections: the last of ld's two words decides."""
    from .linkline import LinkerOption

    chosen = False
    for item in link.items:
        if isinstance(item, LinkerOption):
            for word in item.words:
                if word.lstrip("-") == "gc-sections":
                    chosen = True
                elif word.lstrip("-") == "no-gc-sections":
                    chosen = False
    return chosen


def external_libraries(settings: Settings) -> set[str]:
    """Libraries kraftld can add: those in the mirror, or (without one) any it can clone."""
    names = {"musl", "lwip"}
    if settings.sources:
        return {n for n in names if os.path.isdir(os.path.join(settings.sources, f"lib-{n}"))}
    return names


def runtime_definitions(settings: Settings, runner: ProcessRunner) -> frozenset[str]:
    """What kraftld's runtime object defines, including the symbols its --wrap options take over."""
    import tempfile

    from .runtime import plan_runtime

    runtime = plan_runtime(settings.cache)
    if os.path.isfile(runtime.object_path):
        return _definitions(runtime.object_path, settings.cache)
    # Planning writes nothing into the cache (execution compiles the object there): on a first
    # link the object is compiled aside, read and dropped.
    with tempfile.TemporaryDirectory(prefix="kraftld-runtime-") as folder:
        aside = os.path.join(folder, "runtime.o")
        compiled = tuple(aside if a == runtime.object_path + ".tmp" else a for a in runtime.compile_command.argv)
        completed = runner(Command(compiled))
        return _definitions(aside if completed.returncode == 0 else None, None)


def _no_processes(command: Command, **_: object) -> Completed:
    raise AssertionError(f"reading an object starts no process: {command.argv}")


def _definitions(runtime_object: str | None, cache: str | None) -> frozenset[str]:
    from .runtime import ANSWERED_SYMBOLS

    members: tuple[Member, ...] = ()
    if runtime_object is not None and os.path.isfile(runtime_object):
        with contextlib.suppress(InputError):  # only a test's stand-in for gcc writes no object
            members = read_file_symbols(runtime_object, "kraftld runtime", False, cache, runner=_no_processes).members
    defined = {name for member in members for name in member.defines}
    # --wrap=NAME sends the inputs' references to NAME to the runtime's __wrap_NAME; only the names
    # it answers itself count as its own (the others still need their library).
    return frozenset(defined | set(ANSWERED_SYMBOLS))
