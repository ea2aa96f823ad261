"""Which Unikraft build kraftld-cc compiles for, and the stage that yields that build's compile flags,
building the configuration first (through kraftld's own pipeline) when the cache has not got it.

One configuration serves a whole project, its compiles and its links, configure's probes
included: objects compiled against lib-musl's headers must be linked with lib-musl, and a probe
that links must not start a build of a configuration of its own (kraftld's zero-config choice
would pick one per probe from its symbols). So:

- the project's Kraftfile, when it names its libraries, is the configuration;
- otherwise (no Kraftfile, or `libraries: auto`) kraftld-cc builds lib-musl with posix-process and
  the options kraftld's zero-config rules give a program that uses threads, the environment and
  files (`DEFAULT_OPTIONS`, `DEFAULT_RULES`: a C program's usual needs), or nolibc when the sources
  at hand have no lib-musl. The links build that configuration as it is: they never choose
  libraries from their symbols (a program needing sockets names lib-lwip in a Kraftfile).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..commands import Command, describe_failure
from ..errors import BuildError, ToolchainError
from ..kraftfile import DEFAULT_KRAFTFILE, Kraftfile, find_kraftfile, load_kraftfile
from ..layout import CacheLayout, EntryLayout
from ..logs import log
from ..settings import Settings
from .note import Note, Tree, holds, inputs_digest, note_path, read_note, write_note
from .unikraft_flags import BuildFlags, read_build_flags

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from typing import TextIO

    from ..commands import ProcessRunner

COMPILER = "gcc"  # what Unikraft's build compiles with (ccache.COMPILER): the same compiler for both
# kraftld-cc's default configuration: these options, then those of the zero-config rules
# (libraries.rules.RULES) named in DEFAULT_RULES. Each row: (option, value, why).
DEFAULT_OPTIONS = (
    (
        "CONFIG_LIBPOSIX_PROCESS",
        "y",
        "popen, pclose, system, getrlimit, wait… are posix-process's, not lib-musl's (Lua's io.popen and "
        "os.execute, sqlite3's shell): without it such programs do not link",
    ),
)
DEFAULT_RULES = ("threads", "environment", "files")
# The program linked to build a configuration that is not in the cache yet.
WARM_UP_SOURCE = "int main(void) { return 0; }\n"


@dataclass(frozen=True)
class Configured:
    kraftfile: Kraftfile  # what compiles and links build
    entry: EntryLayout  # its cache entry
    flags: BuildFlags
    trees: tuple[Tree, ...] = ()  # the source trees as they were probed (for the note)


def project_kraftfile(cwd: str, settings: Settings) -> Kraftfile:
    """The configuration a project's compiles and links share (see the module's docstring)."""
    from ..libraries.choose import external_libraries
    from ..libraries.rules import RULES
    from ..libraries.selection import Selection, apply

    path = find_kraftfile(cwd)
    kraftfile = DEFAULT_KRAFTFILE if path is None else load_kraftfile(path)
    if path is not None and not kraftfile.auto_libraries:
        return kraftfile
    if "musl" not in external_libraries(settings):
        return dataclasses.replace(kraftfile, auto_libraries=False)  # nolibc's headers, nolibc's link
    options = tuple((option, value) for option, value, _ in DEFAULT_OPTIONS)
    options += tuple(option for rule in RULES if rule.name in DEFAULT_RULES for option in rule.kconfig)
    return apply(kraftfile, Selection("musl", ("musl",), options, ()))


def compiler_include(runner: ProcessRunner) -> str:
    """gcc's own header folder (stddef.h, stdarg.h…), which Unikraft's -nostdinc leaves out."""
    completed = runner(Command((COMPILER, "-print-file-name=include")))
    folder = completed.tail[-1].strip() if completed.tail else ""
    if completed.returncode != 0 or not os.path.isdir(folder):
        raise ToolchainError(
            f"{COMPILER} does not name its own include folder",
            "install gcc (Debian: apt-get install gcc)",
            details=describe_failure(completed),
        )
    return folder


def compile_flags(environ: Mapping[str, str], cwd: str, runner: ProcessRunner, *, log_stream: TextIO) -> BuildFlags:
    """The flags a compile in `cwd` gets: from the note of the last resolution while it holds (see
    note.py), else from `configured_build`, whose answer becomes the note."""
    settings = Settings.from_environ(environ)
    path = note_path(settings.cache, inputs_digest(environ, cwd))
    note = read_note(path)
    if note is not None and holds(note, runner):
        return note.flags
    configured = configured_build(environ, cwd, runner, log_stream=log_stream)
    if not settings.dry_run:
        try:
            write_note(path, Note(configured.trees, configured.entry.root, configured.flags))
        except OSError as error:  # a cache that cannot take the note: the next compile resolves again
            log.debug("no note of the configuration (%s): %s", path, error)
    return configured.flags


def configured_build(environ: Mapping[str, str], cwd: str, runner: ProcessRunner, *, log_stream: TextIO) -> Configured:
    """The project's configuration and its compile flags, built first when not in the cache."""
    from ..pipeline import probe_config
    from ..sources import UNTRACKED_COUNT

    settings = Settings.from_environ(environ)
    kraftfile = project_kraftfile(cwd, settings)
    probed = probe_config(kraftfile, settings, runner, clone=not settings.dry_run)
    config = probed.config
    trees = (
        Tree(config.unikraft.path, config.unikraft.commit, config.unikraft.state, UNTRACKED_COUNT["unikraft"]),
        *(Tree(lib.path, lib.commit, lib.state, UNTRACKED_COUNT["library"]) for lib in config.libraries),
    )
    entry = CacheLayout(settings.cache).entry(probed.config.key)
    include = compiler_include(runner)
    flags = None if os.path.exists(entry.build_marker) else read_build_flags(entry.build, include)
    if flags is None:
        build_configuration(kraftfile, environ, runner, log_stream=log_stream)
        flags = read_build_flags(entry.build, include)
    if flags is None:
        raise BuildError(
            f"the build of the configuration in {entry.root} recorded no compile line for kraftld's object",
            "unset KRAFTLD_DRY_RUN (a dry run builds nothing), or remove the entry and retry",
        )
    return Configured(kraftfile, entry, flags, trees)


def build_configuration(
    kraftfile: Kraftfile, environ: Mapping[str, str], runner: ProcessRunner, *, log_stream: TextIO
) -> None:
    """Build `kraftfile`'s configuration the way any link does: link a program with an empty main
    (compiled without headers, which the build provides) through kraftld's pipeline."""
    import tempfile

    from .. import pipeline

    with tempfile.TemporaryDirectory(prefix="kraftld-cc-") as folder:
        source = os.path.join(folder, "warm_up.c")
        with open(source, "w", encoding="utf-8") as handle:
            handle.write(WARM_UP_SOURCE)
        obj = os.path.join(folder, "warm_up.o")
        argv = (COMPILER, "-c", "-O2", "-fno-PIC", "-fno-stack-protector", "-nostdinc", source, "-o", obj)
        completed = runner(Command(argv))
        if completed.returncode != 0:
            raise ToolchainError(
                "gcc cannot compile an empty main", "check the gcc installation", details=describe_failure(completed)
            )
        log_stream.write("kraftld-cc: building the unikernel's configuration once (a cold build takes minutes)\n")
        pipeline.link(
            [obj, "-o", os.path.join(folder, "warm_up")],
            environ,
            folder,
            runner,
            log_stream=log_stream,
            notify=notifier(log_stream),
            head_start=False,
            kraftfile=kraftfile,
        )


def notifier(stream: TextIO) -> Callable[[str], None]:
    """Writes kraftld's notices (waiting for a lock, building) as kraftld-cc's."""

    def say(message: str) -> None:
        stream.write(f"kraftld-cc: {message}\n")

    return say
