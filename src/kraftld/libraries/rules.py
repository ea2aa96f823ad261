"""The table of symbols that call for Unikraft libraries and Kconfig options, each row with its why.

Also the names that never need a library, the libraries outside the offline mirror a missing
symbol hints at, and the table's text as `kraftld --explain-libraries` prints it (`explain`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..presets import preset_options

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
