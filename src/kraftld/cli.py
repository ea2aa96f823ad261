"""The `kraftld` command: a gcc-compatible linker driver that writes a bootable Unikraft image.

This module is the boundary: it reads argv and the environment, runs the pipeline, prints, and
turns kraftld's errors into `kraftld: error: …` lines with a hint and exit status 1. Anything
else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys

from . import __version__

# Start-up matters (a link is often a fraction of a second): `kraftld --version` and `--help`
# answer before anything else is imported, and a link imports the pipeline when it needs it.
# (TYPE_CHECKING is defined here rather than imported: mypy honours the name, and importing
# `typing` costs more than the rest of start-up.)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import FrameType
    from typing import TextIO

    from .headstart import HeadStart
    from .linkline import LinkLine
    from .pipeline import Probed
    from .plan import LinkPlan
    from .process import ProcessRunner

USAGE = """\
usage: kraftld [gcc-style link arguments] -o IMAGE

kraftld is a linker driver for Unikraft unikernels. It takes the link line a compiler hands to
cc (objects, archives, rlibs, -l, -L, -Wl,…, -Xlinker, @response files), builds Unikraft with
those inputs added to the final link, and writes the bootable image to IMAGE and its debug
image to IMAGE.dbg.

kraftld's own options:
  -v, --verbose     show what became of each argument, and every command run
  --version         print kraftld's version
  --explain-flags   print how kraftld treats every flag it knows, and why
  --prune-cache     remove least recently used builds until the cache fits KRAFTLD_CACHE_MAX
  -h, --help        print this help

Environment: KRAFTLD_UNIKRAFT, KRAFTLD_SOURCES, KRAFTLD_TARGET, KRAFTLD_CACHE,
KRAFTLD_DRY_RUN, KRAFTLD_LOG, KRAFTLD_CACHE_MAX (see the README).
"""


class Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C so children are stopped and outputs removed."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | None = None,
    runner: ProcessRunner | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if environ is None else environ
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    if args in (["--version"], ["-v"]):
        out.write(f"kraftld {__version__}\n")
        return 0
    if args in (["--help"], ["-h"]):
        out.write(USAGE)
        return 0
    if args == ["--explain-flags"]:
        out.write(explain_flags())
        return 0
    from .errors import KraftldError

    if args == ["--prune-cache"]:
        return _prune_cache(env, out, err)
    previous = _install_sigterm()
    head: HeadStart | None = None
    try:
        folder = cwd or os.getcwd()
        if runner is None:
            # A repeated link's steps start now, while the rest of kraftld is imported and
            # the link planned; the plan adopts them only if they are exactly the steps it would run.
            from . import headstart

            head = headstart.begin(args, env, folder)
        from .process import logged, run_process

        return _link(args, env, folder, logged(runner or run_process), out, err, head, notes=runner is None)
    except KraftldError as error:
        err.write(error.render())
        return 1
    except KeyboardInterrupt:
        err.write("kraftld: interrupted\n")
        return 130
    except Terminated:
        err.write("kraftld: terminated\n")
        return 143
    finally:
        if head is not None:
            head.close()
        _restore_sigterm(previous)


def _install_sigterm() -> object:
    import signal

    try:
        return signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (tests may call main from one)
        return None


def _restore_sigterm(previous: object) -> None:
    import signal

    if previous is not None:
        signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]


def _link(
    args: list[str],
    environ: Mapping[str, str],
    cwd: str,
    runner: ProcessRunner,
    out: TextIO,
    err: TextIO,
    head: HeadStart | None,
    *,
    notes: bool,
) -> int:
    """Link; with `notes`, leave a note for the next link of this line to start ahead."""
    from . import headstart, logs, progress
    from .execute import execute, head_start_note
    from .linkline import Request, parse_link_line
    from .pipeline import plan_from_line
    from .response import expand_response_files
    from .settings import Settings

    settings = Settings.from_environ(environ)
    expanded = expand_response_files(args)
    line = parse_link_line(expanded)
    if line.request is Request.VERSION or (line.verbose and not line.items and line.output is None):
        out.write(f"kraftld {__version__}\n")
        return 0
    if line.request is Request.HELP:
        out.write(USAGE)
        return 0
    log = logs.configure("kraftld", settings.log_level if not line.verbose else "debug", err)
    if line.verbose:
        _print_decisions(line, err)
    try:
        plan, probed = plan_from_line(line, settings, environ, cwd, runner)
        if settings.dry_run:
            out.write(describe_plan(plan, probed, line))
            return 0
        result = execute(
            plan,
            runner,
            progress.terminal_progress(),
            notify=lambda message: _say(err, message),
            fast=settings.fast_relink,
            head=head,
        )
    except BaseException:
        if line.output is not None and not settings.dry_run:
            _remove_output(os.path.join(cwd, line.output), [os.path.join(cwd, i.path) for i in line.inputs])
        raise
    if not result.fast:  # only a full build grows the cache
        from .cache_prune import prune

        for removed in prune(settings.cache, settings.cache_max, keep=plan.entry).removed:
            log.info("removed the least recently used build %s to keep the cache under KRAFTLD_CACHE_MAX", removed.path)
    if notes and settings.fast_relink and result.prebuilt is not None:
        headstart.remember(environ, expanded, cwd, head_start_note(plan, result.prebuilt, expanded, cwd))
    how = "replaying the final link steps" if result.fast else "with make"
    log.info("wrote %s and %s, %s", result.image, result.debug_image, how)
    return 0


def _prune_cache(environ: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    from . import cache_prune
    from .environment import cache_dir
    from .errors import KraftldError

    try:
        bound = cache_prune.parse_cache_max(environ)
        out.write(cache_prune.describe(cache_prune.prune(cache_dir(environ), bound), bound))
    except KraftldError as error:
        err.write(error.render())
        return 1
    return 0


def _say(err: TextIO, message: str) -> None:
    err.write(f"kraftld: {message}\n")


def _remove_output(output: str, inputs: list[str]) -> None:
    """A failed link leaves nothing at -o, as gcc deletes a failed step's output; an input
    named as the output stays (the link refuses that line, and must not destroy the input)."""
    spared = {os.path.realpath(path) for path in inputs}
    for path in (output, output + ".dbg"):
        if (os.path.isfile(path) or os.path.islink(path)) and os.path.realpath(path) not in spared:
            os.unlink(path)


def _print_decisions(line: LinkLine, err: TextIO) -> None:
    for decision in line.decisions:
        err.write(f"kraftld: {decision.action.value:7} {decision.argument}  ({decision.why})\n")


def describe_plan(plan: LinkPlan, probed: Probed, line: LinkLine) -> str:
    """The plan as a dry run prints it: everything a real run would use and do."""
    config = plan.config
    lines = [
        "kraftld dry run: nothing is built",
        f"kraftfile: {probed.kraftfile.path or '(none: the embedded default)'}",
        f"unikraft: {config.unikraft.path} (version {probed.unikraft_version}, "
        f"commit {config.unikraft.commit or 'not a git checkout'})",
        "libraries: " + (", ".join(f"{lib.name} at {lib.path}" for lib in config.libraries) or "none"),
        f"target: {config.target.label}",
        f"cache folder: {plan.entry}",
        f"output: {plan.output} and {plan.debug_output}",
        "defconfig:",
        *("  " + option for option in config.defconfig.splitlines()),
        "decisions:",
        *(f"  {d.action.value:7} {d.argument}  ({d.why})" for d in line.decisions),
        "staged inputs:",
        *(f"  {s.link} -> {s.target}" for s in plan.staged),
    ]
    if plan.preseeded:
        lines.append("archives placed in the build instead of downloads:")
        lines.extend(f"  {source} -> {destination}" for source, destination in plan.preseeded)
    extra_env = {k: v for k, v in (plan.build_command.env or {}).items() if k == "MAKEFLAGS"}
    lines.append(
        "make environment: "
        + (" ".join(f"{k}={v}" for k, v in extra_env.items()) or "kraftld's own, without MAKEFLAGS")
    )
    lines.append("commands:")
    lines.append(f"  {plan.runtime.compile_command.shell_quoted()}   (once per cache)")
    lines.append(f"  {plan.defconfig_command.shell_quoted()}   (when the options change)")
    lines.append(f"  {plan.build_command.shell_quoted()}")
    return "\n".join(lines) + "\n"


def explain_flags() -> str:
    from . import flags

    lines = ["Driver flags (what gcc itself reads):"]
    for rule in flags.DRIVER_RULES.values():
        lines.append(f"  {rule.name:20} {rule.form.value:20} {rule.action.value:8} {rule.why}")
    lines.append("")
    lines.append("Linker words (inside -Wl, and -Xlinker, and what gcc hands to ld):")
    for rule in flags.LINKER_RULES.values():
        lines.append(f"  {rule.name:20} {rule.form.value:20} {rule.action.value:8} {rule.why}")
    lines.append(f"  {'(other)':20} {'':20} {'forward':8} {flags.UNKNOWN_LINKER_WHY}")
    lines.append("")
    lines.append("-z keywords dropped (others are forwarded):")
    for keyword, why in flags.Z_DROPPED.items():
        lines.append(f"  -z {keyword:17} {why}")
    lines.append("")
    lines.append("-l libraries dropped (others are resolved to lib<name>.a in the -L folders):")
    for name, why in flags.LIBC_LIBRARIES.items():
        lines.append(f"  -l{name:18} {why}")
    for name, why in flags.COMPILER_LIBRARIES.items():
        lines.append(f"  -l{name:18} forwarded: {why}")
    return "\n".join(lines) + "\n"


def entry_point() -> None:
    try:
        status = main()
    except KeyboardInterrupt:  # before main could catch it: while Python was still importing
        sys.stderr.write("kraftld: interrupted\n")
        status = 130
    # Python's teardown (freeing every module's objects) takes longer than some links' final
    # steps, and kraftld has nothing left to do at exit: its files are closed, its threads and
    # children waited for, no atexit hooks. So it flushes its output and leaves at once.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe: what was not written is lost either way
        status = status or 1
    os._exit(status)
