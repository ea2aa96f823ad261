"""Chains kraftld's stages: link line → resolved inputs → build configuration → plan.

Each stage is a function of the previous one's result; only `probe_config` looks at the file
system beyond the inputs (Kraftfile, source trees) and only `execute` changes anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .ccache import compiler_setup
from .config import BuildConfig, image_name, render_defconfig, select_target
from .kraftfile import DEFAULT_KRAFTFILE, Kraftfile, find_kraftfile, load_kraftfile
from .linkline import LinkLine
from .plan import LinkPlan, MakeSetup, plan_link
from .process import jobserver, without_make_variables
from .resolve import resolve_link
from .runtime import params_source, plan_runtime
from .settings import Settings
from .sources import SourceTree, check_unikraft_tree, git_commit, library_downloads, locate

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from .process import ProcessRunner


@dataclass(frozen=True)
class Probed:
    kraftfile: Kraftfile
    config: BuildConfig
    unikraft_version: str


def load_app_kraftfile(cwd: str) -> Kraftfile:
    path = find_kraftfile(cwd)
    return DEFAULT_KRAFTFILE if path is None else load_kraftfile(path)


def probe_config(kraftfile: Kraftfile, settings: Settings, runner: ProcessRunner, *, clone: bool) -> Probed:
    target = select_target(kraftfile, settings.target)
    uk_path = locate(kraftfile.unikraft, settings, kraftfile.folder, runner, clone=clone)
    version = check_unikraft_tree(uk_path)
    libraries = []
    downloads = []
    for component in kraftfile.libraries:
        path = locate(component, settings, kraftfile.folder, runner, clone=clone)
        libraries.append(SourceTree(component.name, path, git_commit(path, runner)))
        downloads.extend(library_downloads(path))
    config = BuildConfig(
        name=image_name(kraftfile),
        unikraft=SourceTree("unikraft", uk_path, git_commit(uk_path, runner)),
        libraries=tuple(libraries),
        target=target,
        defconfig=render_defconfig(kraftfile, target),
        downloads=tuple(downloads),
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


def plan_from_line(
    line: LinkLine, settings: Settings, environ: Mapping[str, str], cwd: str, runner: ProcessRunner
) -> tuple[LinkPlan, Probed]:
    link = resolve_link(line, cwd)
    probed = probe_config(load_app_kraftfile(cwd), settings, runner, clone=not settings.dry_run)
    archives = os.path.join(settings.sources, "archives") if settings.sources else None
    plan = plan_link(
        link,
        probed.config,
        settings.cache,
        plan_runtime(settings.cache),
        make_setup(environ),
        params_source(),
        archives,
        compiler_setup(environ, settings.cache),
    )
    return plan, probed
