"""kraftld's runtime object: its C source ships in the package and is compiled on first use
(once per cache, by a digest of its sources and command: see compiled.py)."""

from __future__ import annotations

from dataclasses import dataclass

from .commands import Command
from .compiled import Compiled, digest_of, ensure_compiled, package_source
from .layout import CacheLayout

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from .commands import ProcessRunner

SOURCE_NAME = "kraftld_runtime.c"
# The files SOURCE_NAME includes, one concern each: the object's digest covers them all.
INCLUDED_SOURCES = ("kraftld_malloc.c", "kraftld_files.c", "kraftld_stacks.c", "kraftld_clocks.c")

# Freestanding kernel code: no red zone (interrupts share the stack), no SSE registers, no
# position independence (Unikraft links at a fixed address), no stack protector runtime.
COMPILE_FLAGS = (
    "-c",
    "-O2",
    "-std=gnu11",
    "-ffreestanding",
    "-fno-pic",
    "-fno-pie",
    "-mno-red-zone",
    "-mgeneral-regs-only",
    "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables",
    "-Wall",
    "-Werror",
)

# The symbols the runtime object stands in front of (see kraftld_runtime.c), in two kinds:
# those it answers itself when no library defines them (a program needing only these needs no
# libc for them), and those it only adjusts on their way to the library that defines them (the
# program still needs that library: choosing libraries must not count them as the runtime's).
ANSWERED_SYMBOLS = ("exit", "_exit", "_Exit", "getrandom", "syscall", "clock_nanosleep")
FORWARDED_SYMBOLS = (
    # the guest's standard error marked on the console (kraftld_runtime.c)
    "uk_syscall_r_write",
    "uk_syscall_r_writev",
    # kraftld_files.c: the syscall shim's open functions lib-musl calls, vfscore's readdir, linkat
    "uk_syscall_r_open",
    "uk_syscall_r_openat",
    "readdir",
    "readdir64",
    "readdir_r",
    "readdir64_r",
    "linkat",
    # kraftld_stacks.c
    "pthread_create",
    # kraftld_clocks.c: the CPU-time clocks
    "uk_syscall_r_clock_gettime",
    "uk_syscall_r_clock_getres",
)
WRAPPED_SYMBOLS = ANSWERED_SYMBOLS + FORWARDED_SYMBOLS


@dataclass(frozen=True)
class RuntimeObject:
    source: str
    object_path: str
    compile_command: Command

    @property
    def link_flags(self) -> tuple[str, ...]:
        return tuple(f"-Wl,--wrap={symbol}" for symbol in WRAPPED_SYMBOLS)

    @property
    def compiled(self) -> Compiled:
        return Compiled(self.object_path, self.compile_command, "kraftld's runtime object")


def source_path(name: str = SOURCE_NAME) -> str:
    return package_source("runtime", name)


def plan_runtime(cache: str, compiler: str = "gcc") -> RuntimeObject:
    source = source_path()
    sources = [source_path(name) for name in (SOURCE_NAME, *INCLUDED_SOURCES)]
    object_path = CacheLayout(cache).runtime_object(digest_of(sources, (compiler, *COMPILE_FLAGS)))
    command = Command((compiler, *COMPILE_FLAGS, "-o", object_path + ".tmp", source))
    return RuntimeObject(source, object_path, command)


def ensure_runtime(runtime: RuntimeObject, runner: ProcessRunner) -> str:
    """Compile the runtime object unless the cache has it; return its path."""
    return ensure_compiled(runtime.compiled, runner)
