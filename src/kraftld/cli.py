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

    from .commands import ProcessRunner
    from .headstart import HeadStart
    from .linkline import LinkLine
    from .pipeline import Probed
    from .plan import LinkPlan

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
  --explain-libraries  print how kraftld chooses Unikraft libraries without a Kraftfile
  --print-kraftfile LINK-LINE  print the Kraftfile equivalent to what LINK-LINE would build
  --prune-cache     remove the least recently used builds, clones, sysroots and notes not in use
                    until the cache fits KRAFTLD_CACHE_MAX
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
    head_start: bool = True,
) -> int:
    """Run kraftld on `argv`; `runner` replaces the process runner (a test's recorder) and changes
    nothing else; `head_start` false: neither start a noted link's steps ahead nor leave a note."""
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
    if args == ["--explain-libraries"]:
        from .libraries.rules import explain

        out.write(explain())
        return 0
    from .errors import KraftldError

    if args == ["--prune-cache"]:
        return _prune_cache(env, out, err)
    previous = _install_sigterm()
    head: HeadStart | None = None
    try:
        folder = cwd or os.getcwd()
        if args[:1] == ["--print-kraftfile"]:  # plans the rest of the line, links nothing
            from .kraftfile_text import render_kraftfile
            from .pipeline import probe_line
            from .process import logged, run_process

            probed = probe_line(args[1:], env, folder, logged(runner or run_process))
            out.write(render_kraftfile(probed.kraftfile, probed.selection))
            return 0
        if head_start:
            # A repeated link's steps start now, while the rest of kraftld is imported and
            # the link planned; the plan adopts them only if they are exactly the steps it would run.
            from . import headstart

            head = headstart.begin(args, env, folder)
        from .process import logged, run_process

        return _link(args, env, folder, logged(runner or run_process), out, err, head, head_start=head_start)
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
    head_start: bool,
) -> int:
    from . import pipeline, progress
    from .linkline import Request

    linked = pipeline.link(
        args,
        environ,
        cwd,
        runner,
        log_stream=err,
        progress=progress.terminal_progress(),
        notify=lambda message: _say(err, message),
        head=head,
        head_start=head_start,
    )
    if linked.request is Request.VERSION:
        out.write(f"kraftld {__version__}\n")
    elif linked.request is Request.HELP:
        out.write(USAGE)
    elif linked.result is None:
        assert linked.plan is not None and linked.probed is not None
        out.write(describe_plan(linked.plan, linked.probed, linked.line))
    return 0


def _prune_cache(environ: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    from . import cache_prune, kconfig_tools, objects
    from .environment import cache_dir
    from .errors import KraftldError

    try:
        bound = cache_prune.parse_cache_max(environ)
        cache = cache_dir(environ)
        out.write(cache_prune.describe(cache_prune.prune(cache, bound), bound))
    except KraftldError as error:
        err.write(error.render())
        return 1
    # The stores in ccache's folder, which builds bound after they ran, bounded now too.
    shared = objects.ccache_folder(environ, cache)
    store = objects.store_in(shared)
    removed = objects.prune(store)
    out.write(f"object store {store}: {len(removed)} objects removed (bound {cache_prune.human(objects.BOUND)})\n")
    kept = kconfig_tools.tools_store(shared)
    removed = kconfig_tools.prune(kept)
    out.write(f"kept kconfig tools {kept}: {len(removed)} removed (the {kconfig_tools.KEPT} last used are kept)\n")
    return 0


def _say(err: TextIO, message: str) -> None:
    err.write(f"kraftld: {message}\n")


def describe_plan(plan: LinkPlan, probed: Probed, line: LinkLine) -> str:
    """The plan as a dry run prints it: everything a real run would use and do."""
    config = plan.config
    lines = [
        "kraftld dry run: nothing is built",
        f"kraftfile: {probed.kraftfile.path or '(none: the embedded default)'}",
        f"unikraft: {config.unikraft.path} (version {probed.unikraft_version}, "
        f"commit {config.unikraft.commit or 'not a git checkout'})",
        "libraries: " + (", ".join(f"{lib.name} at {lib.path}" for lib in config.libraries) or "none"),
        *(_selection_lines(probed)),
        f"target: {config.target.label}",
        f"cache folder: {plan.entry}",
        "kconfig tools: "
        + (
            f"a new build folder gets the ones kept in {plan.kconfig_tools.store} for this tree and host compiler"
            if plan.kconfig_tools
            else "built by make in every new build folder"
        ),
        f"output: {plan.output} and {plan.debug_output}",
        "defconfig:",
        *("  " + option for option in config.defconfig.splitlines()),
        "decisions:",
        *(f"  {d.action.value:7} {d.argument}  ({d.why})" for d in line.decisions),
        "staged inputs:",
        *(f"  {s.link} -> {s.target}" for s in plan.staged),
    ]
    if plan.mirror_fetch is not None:
        lines.append(
            f"downloads: none; make's WGET is {plan.mirror_fetch.script} (written once per cache), "
            f"which copies what the configured build fetches from {plan.mirror_fetch.archives}"
        )
    extra_env = {k: v for k, v in (plan.build_command.env or {}).items() if k == "MAKEFLAGS"}
    lines.append(
        "make environment: "
        + (" ".join(f"{k}={v}" for k, v in extra_env.items()) or "kraftld's own, without MAKEFLAGS")
    )
    lines.append("commands:")
    lines.append(f"  {plan.runtime.compile_command.shell_quoted()}   (once per cache)")
    if plan.launcher is not None:
        lines.append(f"  {plan.launcher.command.shell_quoted()}   (once per cache)")
    lines.append(f"  {plan.defconfig_command.shell_quoted()}   (when the options change)")
    lines.append(f"  {plan.build_command.shell_quoted()}")
    return "\n".join(lines) + "\n"


def _selection_lines(probed: Probed) -> list[str]:
    if probed.selection is None:
        return []
    from .libraries.report import describe

    return describe(probed.selection)


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
