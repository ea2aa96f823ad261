"""Chains kraftld's stages into one call, `link`: settings → response files → link line →
resolved inputs → build configuration → plan → execution.

Each stage before execution is a function of the previous one's result and writes nothing:
`resolve_link` and `probe_config` read the file system (inputs, the Kraftfile, source trees), and
`probe_config` may clone a missing source into the cache (`sources.locate`, never in a dry run).
Only `execute` builds and writes the image; after it, `link` leaves the head start its note.
From the plan to its end, `link` holds the clones and sysroots the plan uses, so the cache's bound
removes none of them under it (`cache_prune.holding`; the hold only locks and touches lock files).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from . import buildprogress, headstart
from .ccache import compiler_setup, plan_launcher
from .config import BuildConfig, image_name, render_defconfig, select_target
from .errors import SourceError
from .execute import LinkResult, Notify, Progress, execute
from .execute.deliver import remove_failed_output
from .execute.replay import steps_for
from .kraftfile import DEFAULT_KRAFTFILE, Kraftfile, find_kraftfile, load_kraftfile
from .libraries.choose import choose as choose_libraries
from .libraries.selection import Selection
from .linkline import LinkLine, Request, parse_link_line
from .logs import configure, log
from .plan import APP_FILES, APP_FOLDER, LinkPlan, MakeSetup, app_folder_is_plain, plan_link
from .process import jobserver, without_make_variables
from .resolve import resolve_link
from .response import expand_response_files
from .runtime import plan_runtime
from .settings import Settings
from .sources import UNTRACKED_COUNT, SourceTree, check_unikraft_tree, git_commit, locate, worktree_state

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from typing import TextIO

    from .commands import ProcessRunner
    from .headstart import HeadStart


@dataclass(frozen=True)
class Probed:
    kraftfile: Kraftfile
    config: BuildConfig
    unikraft_version: str
    selection: Selection | None = None  # the libraries kraftld chose, when the Kraftfile left it to it


@dataclass(frozen=True)
class Linked:
    """What one `link` call came to: a request answered, a plan (a dry run), or a link made."""

    request: Request  # LINK, or VERSION / HELP for the boundary to answer
    line: LinkLine
    plan: LinkPlan | None = None
    probed: Probed | None = None
    result: LinkResult | None = None  # None for a dry run


def link(
    args: list[str],
    environ: Mapping[str, str],
    cwd: str,
    runner: ProcessRunner,
    *,
    log_stream: TextIO,
    progress: Progress | None = None,
    notify: Notify | None = None,
    head: HeadStart | None = None,
    head_start: bool = True,
    kraftfile: Kraftfile | None = None,
) -> Linked:
    """Run a link line through every stage. `head`: the steps a head start began; with
    `head_start`, a link that leaves a fast-relink record notes it for the next head start;
    `kraftfile`: the configuration to build, in place of the one found from `cwd` (kraftld-cc's)."""
    settings = Settings.from_environ(environ)
    expanded = expand_response_files(args)
    line = parse_link_line(expanded)
    if line.request is Request.VERSION or (line.verbose and not line.items and line.output is None):
        return Linked(Request.VERSION, line)
    if line.request is Request.HELP:
        return Linked(Request.HELP, line)
    configure("kraftld", settings.log_level if not line.verbose else "debug", log_stream)
    if line.verbose:
        for decision in line.decisions:
            log.debug("%s", f"{decision.action.value:7} {decision.argument}  ({decision.why})")
    with contextlib.ExitStack() as held:  # the clones and sysroots the link uses, until it ends
        try:
            plan, probed = _plan_held(held, line, settings, environ, cwd, runner, kraftfile)
            if line.verbose and probed.selection is not None:
                from .libraries.report import describe

                for text in describe(probed.selection):
                    log.debug("%s", text)
            if settings.dry_run:
                return Linked(Request.LINK, line, plan, probed)
            readable = buildprogress.follow(settings.cache, plan.config, progress)
            result = execute(plan, runner, readable, notify, fast=settings.fast_relink, head=head)
        except BaseException:
            if line.output is not None and not settings.dry_run:
                remove_failed_output(os.path.join(cwd, line.output), [os.path.join(cwd, i.path) for i in line.inputs])
            raise
        if not result.fast:  # only a full build grows the cache
            from .cache_prune import prune

            for removed in prune(settings.cache, settings.cache_max, keep=plan.entry).removed:
                log.info(
                    "removed the least recently used %s %s to keep the cache under KRAFTLD_CACHE_MAX",
                    removed.kind,
                    removed.path,
                )
    if head_start and settings.fast_relink and result.prebuilt is not None:
        steps, _ = steps_for(plan, result.prebuilt, headstart.LINK_DIR_MARK)
        note = headstart.note_for(plan, steps, expanded, cwd)
        if note is not None:
            headstart.remember(environ, note)
    how = "replaying the final link steps" if result.fast else "with make"
    log.info("wrote %s and %s, %s", result.image, result.debug_image, how)
    return Linked(Request.LINK, line, plan, probed, result)


# How many times a link plans again when a prune removed a clone it had found before it held it.
PLAN_ATTEMPTS = 3


def _plan_held(
    held: contextlib.ExitStack,
    line: LinkLine,
    settings: Settings,
    environ: Mapping[str, str],
    cwd: str,
    runner: ProcessRunner,
    kraftfile: Kraftfile | None,
) -> tuple[LinkPlan, Probed]:
    """Plan the link, then hold the clones its trees are in and the sysroots its inputs come from
    (`cache_prune.holding`) until the link ends, so no prune removes them under it. A prune may
    remove a clone between the plan finding it and the hold: then plan again, which clones it again."""
    for _attempt in range(PLAN_ATTEMPTS):
        plan, probed = plan_from_line(line, settings, environ, cwd, runner, kraftfile)
        if settings.dry_run:
            return plan, probed
        from .cache_prune import holding

        config = plan.config
        paths = [config.unikraft.path, *(tree.path for tree in config.libraries), *(s.target for s in plan.staged)]
        attempt = contextlib.ExitStack()
        if attempt.enter_context(holding(paths, settings.cache)):
            held.enter_context(attempt)
            return plan, probed
        attempt.close()
    raise SourceError(
        f"a clone in {settings.cache} kept being removed while this link planned",
        "another kraftld prunes the cache to a bound too small for this link; raise KRAFTLD_CACHE_MAX",
    )


def load_app_kraftfile(cwd: str) -> Kraftfile:
    path = find_kraftfile(cwd)
    return DEFAULT_KRAFTFILE if path is None else load_kraftfile(path)


def probe_config(kraftfile: Kraftfile, settings: Settings, runner: ProcessRunner, *, clone: bool) -> Probed:
    target = select_target(kraftfile, settings.target)
    uk_path = locate(kraftfile.unikraft, settings, kraftfile.folder, runner, clone=clone)
    version = check_unikraft_tree(uk_path)
    libraries = []
    for component in kraftfile.libraries:
        path = locate(component, settings, kraftfile.folder, runner, clone=clone)
        commit = git_commit(path, runner)
        state = worktree_state(path, commit, runner, untracked=UNTRACKED_COUNT["library"])
        libraries.append(SourceTree(component.name, path, commit, state))
    uk_commit = git_commit(uk_path, runner)
    uk_state = worktree_state(uk_path, uk_commit, runner, untracked=UNTRACKED_COUNT["unikraft"])
    config = BuildConfig(
        name=image_name(kraftfile),
        unikraft=SourceTree("unikraft", uk_path, uk_commit, uk_state),
        libraries=tuple(libraries),
        target=target,
        defconfig=render_defconfig(kraftfile, target),
    )
    return Probed(kraftfile, config, version)


def make_setup(environ: Mapping[str, str]) -> MakeSetup:
    base = without_make_variables(environ)
    found = jobserver(environ)
    jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if found is None:
        return MakeSetup(base, jobs)
    flags, fds = found
    return MakeSetup(base, jobs, flags, fds)


def shipped_app_texts() -> dict[str, str]:
    """The shipped application's files, for a copy in the cache entry (see plan.APP_FOLDER)."""
    texts = {}
    for name in APP_FILES:
        with open(os.path.join(APP_FOLDER, name), encoding="utf-8") as handle:
            texts[name] = handle.read()
    return texts


def probe_line(args: list[str], environ: Mapping[str, str], cwd: str, runner: ProcessRunner) -> Probed:
    """The configuration a link line would build, decided as a dry run: nothing cloned or built."""
    settings = replace(Settings.from_environ(environ), dry_run=True)
    _, probed = plan_from_line(parse_link_line(expand_response_files(args)), settings, environ, cwd, runner)
    return probed


def plan_from_line(
    line: LinkLine,
    settings: Settings,
    environ: Mapping[str, str],
    cwd: str,
    runner: ProcessRunner,
    kraftfile: Kraftfile | None = None,
) -> tuple[LinkPlan, Probed]:
    link = resolve_link(line, cwd)
    given = kraftfile is not None  # a configuration decided before the link: built as it is
    if kraftfile is None:
        kraftfile = load_app_kraftfile(cwd)
    selection = None
    if not given and (kraftfile.path is None or kraftfile.auto_libraries):  # no Kraftfile, or `libraries: auto`
        kraftfile, selection = choose_libraries(kraftfile, link, settings, runner)
    probed = replace(probe_config(kraftfile, settings, runner, clone=not settings.dry_run), selection=selection)
    archives = os.path.join(settings.sources, "archives") if settings.sources else None
    plan = plan_link(
        link,
        probed.config,
        settings.cache,
        plan_runtime(settings.cache),
        make_setup(environ),
        None if app_folder_is_plain() else shipped_app_texts(),
        archives,
        compiler_setup(environ, settings.cache),
        plan_launcher(settings.cache),
    )
    return plan, probed
