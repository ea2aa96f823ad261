"""Runs one kraftld-cc line: gcc for compiling and preprocessing against the configured build's
headers and flags; for a link, gcc for each source into a temporary object, then kraftld's pipeline.

Compiles to objects (`-c`, and a link's own sources) go through ccache under the rules Unikraft's
build follows (`ccache.compiler_setup`: when ccache is installed or KRAFTLD_CCACHE=1, not with
KRAFTLD_CCACHE=0; its store is kraftld's cache's `ccache/` unless CCACHE_DIR is set; distcc when
DISTCC_HOSTS is set), so a rebuilt project's objects come from the same store as Unikraft's.
ccache runs the same gcc command and gives back the object gcc wrote; preprocessing (`-E`, `-M`)
and `-S` go to gcc directly (ccache would only pass them through).

The compiler's own output is the user's: gcc runs with kraftld-cc's stdin, stdout and stderr
(configure scripts read `-E` output from stdout and judge a compile by what it prints on stderr),
and its exit status is kraftld-cc's. Such runs go through `Passthrough`, injected like the
process runner (a test's recorder replaces both and changes nothing else).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..commands import Command
from ..logs import log
from .arguments import Invocation, Mode, classify, link_line, object_name, source_args
from .configuration import COMPILER, compile_flags, notifier, project_kraftfile
from .unikraft_flags import BuildFlags

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from typing import TextIO

    from ..commands import ProcessRunner

# Runs a command with kraftld-cc's own standard streams; returns its exit status.
Passthrough = Callable[[Command], int]
DEFAULT_OUTPUT = "a.out"  # gcc's name for a link without -o


def run_inherited(command: Command) -> int:
    log.debug("%s", command.shell_quoted())
    return subprocess.run(command.argv, cwd=command.cwd, env=command.env, check=False).returncode


@dataclass(frozen=True)
class Launcher:
    """What a compile runs gcc behind (ccache, or distcc), and the variables it adds to the
    environment (CCACHE_DIR…); empty for gcc alone."""

    words: tuple[str, ...] = ()
    environ: tuple[tuple[str, str], ...] = ()


GCC_ALONE = Launcher()


def compile_command(
    flags: BuildFlags,
    user_args: Sequence[str],
    cwd: str,
    environ: Mapping[str, str],
    launcher: Launcher = GCC_ALONE,
) -> Command:
    """gcc with the build's flags first (the user's own come after and win: -O, -fPIC, -D…) and
    the build's include folders last (searched after the user's -I), in kraftld-cc's environment;
    behind ccache (or distcc) when `launcher` names it."""
    return Command(
        (*launcher.words, COMPILER, *flags.flags, *user_args, *flags.includes),
        cwd=cwd,
        env={**environ, **dict(launcher.environ)},
    )


def object_launcher(environ: Mapping[str, str]) -> Launcher:
    """ccache or distcc for compiles to objects, by the rules of Unikraft's build (see the docstring)."""
    from ..ccache import compiler_setup
    from ..environment import cache_dir

    setup = compiler_setup(environ, cache_dir(environ))
    tool = setup.ccache or setup.distcc
    return Launcher((tool,), setup.environ) if tool else GCC_ALONE


def run_line(
    argv: Sequence[str],
    environ: Mapping[str, str],
    cwd: str,
    runner: ProcessRunner,
    passthrough: Passthrough,
    *,
    log_stream: TextIO,
) -> int:
    invocation = classify(argv)
    if invocation.mode is Mode.QUERY:  # --version, -print-file-name=…, -dumpmachine: gcc's answer
        return passthrough(Command((COMPILER, *argv), cwd=cwd, env=dict(environ)))
    if invocation.mode is not Mode.LINK:
        flags = compile_flags(environ, cwd, runner, log_stream=log_stream)
        launcher = object_launcher(environ) if invocation.mode is Mode.COMPILE else GCC_ALONE
        return passthrough(compile_command(flags, invocation.gcc_line(), cwd, environ, launcher))
    return _link(invocation, environ, cwd, runner, passthrough, log_stream)


def _link(
    invocation: Invocation,
    environ: Mapping[str, str],
    cwd: str,
    runner: ProcessRunner,
    passthrough: Passthrough,
    log_stream: TextIO,
) -> int:
    import tempfile

    from .. import pipeline
    from ..settings import Settings

    launcher = object_launcher(environ)
    # The sources' flags as a compile's (from the note while it holds); the same configuration
    # (`project_kraftfile`, as configured_build decides it) is linked.
    flags = compile_flags(environ, cwd, runner, log_stream=log_stream) if invocation.sources else None
    kraftfile = project_kraftfile(cwd, Settings.from_environ(environ))
    with tempfile.TemporaryDirectory(prefix="kraftld-cc-") as folder:
        objects: list[str] = []
        for index, source in enumerate(invocation.sources):
            assert flags is not None
            obj = os.path.join(folder, f"{index}-{object_name(source.path)}")
            args = [*invocation.compile_args(), *source_args(source), "-c", "-o", obj]
            status = passthrough(compile_command(flags, args, cwd, environ, launcher))
            if status != 0:
                return status
            objects.append(obj)
        line = link_line(invocation, objects)
        if invocation.output is None:
            line += ["-o", DEFAULT_OUTPUT]
        pipeline.link(
            line,
            environ,
            cwd,
            runner,
            log_stream=log_stream,
            notify=notifier(log_stream),
            head_start=False,
            kraftfile=kraftfile,
        )
    return 0
