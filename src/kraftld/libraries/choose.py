"""Reads what a choice of libraries needs and chooses: the link's symbols, what kraftld's runtime
object defines, and what the sources at hand export (the core's lists, lib-musl's table).

The only part of library selection that reads files, clones a missing Unikraft tree (never in a
dry run) or starts processes (`ar`, git, and gcc for a runtime object not compiled yet); the
choosing itself is `selection.select`.
"""

from __future__ import annotations

import contextlib
import os

from ..commands import Command, Completed
from ..elf import FileKind
from ..errors import InputError
from ..kraftfile import Component, Kraftfile
from ..symbols.inputs import read_file_symbols
from ..symbols.needed import resolve_needed
from ..symbols.objects import Member
from .selection import Available, Selection, apply, select

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from ..commands import ProcessRunner
    from ..resolve import ResolvedLink
    from ..settings import Settings


def choose(
    kraftfile: Kraftfile, link: ResolvedLink, settings: Settings, runner: ProcessRunner
) -> tuple[Kraftfile, Selection]:
    """Read the link's symbols and what the sources at hand export; choose; return the
    equivalent Kraftfile and the selection that made it."""
    from ..exports import find_musl_tarball, musl_exports, unikraft_offers
    from ..sources import git_commit, locate

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
    from ..linkline import LinkerOption

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

    from ..runtime import plan_runtime

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
    from ..runtime import ANSWERED_SYMBOLS

    members: tuple[Member, ...] = ()
    if runtime_object is not None and os.path.isfile(runtime_object):
        with contextlib.suppress(InputError):  # only a test's stand-in for gcc writes no object
            members = read_file_symbols(runtime_object, "kraftld runtime", False, cache, runner=_no_processes).members
    defined = {name for member in members for name in member.defines}
    # --wrap=NAME sends the inputs' references to NAME to the runtime's __wrap_NAME; only the names
    # it answers itself count as its own (the others still need their library).
    return frozenset(defined | set(ANSWERED_SYMBOLS))
