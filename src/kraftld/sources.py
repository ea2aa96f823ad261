"""Finds the Unikraft tree and library sources a build uses, and what each library downloads.

Where a source comes from, in order: KRAFTLD_UNIKRAFT (Unikraft only); a local path in the
Kraftfile; the KRAFTLD_SOURCES mirror (then nothing is ever fetched); otherwise a git URL (the
Kraftfile's, or unikraft/<name> on GitHub), cloned once into the cache.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from .atomic import replacing
from .commands import Command, describe_failure
from .errors import SourceError
from .kraftfile import Component
from .layout import CacheLayout
from .settings import Settings

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from .commands import ProcessRunner

DEFAULT_ORIGINS = "https://github.com/unikraft/{repo}.git"
# Branch names KraftKit uses for "whatever is current"; kraftld then takes the default branch.
FLOATING_VERSIONS = {"stable", "staging", "latest", "main", "master", ""}


@dataclass(frozen=True)
class SourceTree:
    name: str  # "unikraft" or a library name such as "musl"
    path: str
    commit: str | None  # None when the tree is not a git checkout


@dataclass(frozen=True)
class Download:
    """A file a library's Makefile.uk fetches: `folder` is its build sub-folder (libmusl)."""

    folder: str
    filename: str
    url: str


def repo_name(component: Component) -> str:
    return "unikraft" if component.name == "unikraft" else f"lib-{component.name}"


def is_url(text: str) -> bool:
    return "://" in text or text.startswith("git@")


def locate(
    component: Component, settings: Settings, kraftfile_folder: str | None, runner: ProcessRunner, *, clone: bool
) -> str:
    """The folder of a component's source. With `clone` false (a dry run), nothing is fetched."""
    if component.name == "unikraft" and settings.unikraft:
        return _existing(settings.unikraft, "KRAFTLD_UNIKRAFT")
    source = component.source
    if source and not is_url(source):
        assert kraftfile_folder is not None, "only a Kraftfile on disk names a local source"
        return _existing(
            os.path.normpath(os.path.join(kraftfile_folder, os.path.expanduser(source))),
            f"the Kraftfile's {component.name} source",
        )
    if settings.sources:
        return _existing(os.path.join(settings.sources, repo_name(component)), "KRAFTLD_SOURCES")
    url = source or DEFAULT_ORIGINS.format(repo=repo_name(component))
    return _clone(component, url, settings, runner, clone=clone)


def _existing(path: str, what: str) -> str:
    if not os.path.isdir(path):
        raise SourceError(
            f"{what} names a folder that does not exist: {path}",
            "clone the source there, or point the variable at an existing checkout",
        )
    return path


def _clone(component: Component, url: str, settings: Settings, runner: ProcessRunner, *, clone: bool) -> str:
    version = component.version or ""
    digest = hashlib.sha256(f"{url}\0{version}".encode()).hexdigest()[:16]
    target = CacheLayout(settings.cache).source(repo_name(component), digest)
    if os.path.isdir(target) or not clone:
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    argv = ["git", "clone", "--quiet"]
    if version not in FLOATING_VERSIONS:
        argv += ["--branch", version]
    # Cloned beside and renamed into place; when another link cloned it first, theirs is as good.
    with replacing(target, folder=True) as partial:
        completed = runner(Command((*argv, url, partial.temporary)))
        if completed.returncode != 0:
            raise SourceError(
                f"cannot clone {url} for {component.name}",
                "without network, set KRAFTLD_SOURCES to an offline mirror or KRAFTLD_UNIKRAFT to a tree",
                details=describe_failure(completed),
            )
    return target


def git_commit(path: str, runner: ProcessRunner) -> str | None:
    """The checked-out commit of a tree, or None when it is not a git checkout.

    Read from .git directly when it is a plain repository (a link pays for every process it
    starts); git answers for anything else (worktrees, unusual refs).
    """
    git_dir = os.path.join(path, ".git")
    if not os.path.exists(git_dir):
        return None
    commit = _read_head(git_dir)
    if commit is not None:
        return commit
    completed = runner(Command(("git", "-C", path, "rev-parse", "HEAD")))
    if completed.returncode != 0 or not completed.tail:
        return None
    return completed.tail[-1].strip()


_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def _read_head(git_dir: str) -> str | None:
    try:
        with open(os.path.join(git_dir, "HEAD"), encoding="ascii") as handle:
            head = handle.read().strip()
        if _COMMIT.match(head):
            return head
        if not head.startswith("ref: "):
            return None
        ref = head[5:]
        loose = os.path.join(git_dir, *ref.split("/"))
        if os.path.isfile(loose):
            with open(loose, encoding="ascii") as handle:
                commit = handle.read().strip()
            return commit if _COMMIT.match(commit) else None
        with open(os.path.join(git_dir, "packed-refs"), encoding="ascii") as handle:
            for line in handle:
                commit, _, name = line.strip().partition(" ")
                if name == ref and _COMMIT.match(commit):
                    return commit
    except (OSError, UnicodeDecodeError):
        return None
    return None


def check_unikraft_tree(path: str) -> str:
    """Check that `path` is a Unikraft tree new enough for kraftld; return its version."""
    makefile = os.path.join(path, "Makefile")
    if (
        not os.path.isfile(makefile)
        or not os.path.isfile(os.path.join(path, "Config.uk"))
        or not os.path.isdir(os.path.join(path, "support", "build"))
    ):
        raise SourceError(
            f"not a Unikraft tree: {path}",
            "point KRAFTLD_UNIKRAFT at a checkout of github.com/unikraft/unikraft",
        )
    version = _unikraft_version(path)
    with open(makefile, encoding="utf-8", errors="replace") as handle:
        knows_ldeps = "UK_LDEPS" in handle.read()
    if not knows_ldeps:
        raise SourceError(
            f"the Unikraft tree at {path} (version {version}) is too old: its build has no UK_LDEPS",
            "use Unikraft 0.17 or newer, which lets a link add inputs through UK_LDFLAGS and UK_LDEPS",
        )
    return version


def _unikraft_version(path: str) -> str:
    values: dict[str, str] = {}
    try:
        with open(os.path.join(path, "version.mk"), encoding="utf-8") as handle:
            for line in handle:
                key, sep, value = line.partition("=")
                if sep:
                    values[key.strip()] = value.strip()
    except OSError:
        return "unknown"
    parts = [values.get(k, "") for k in ("UK_VERSION", "UK_SUBVERSION", "UK_EXTRAVERSION")]
    return ".".join(p for p in parts if p) or "unknown"


_ASSIGNMENT = re.compile(r"^\s*([A-Za-z0-9_]+)\s*[:?]?=\s*(.*?)\s*$")
_FETCH = re.compile(r"\$\(call\s+(fetch|fetch2|fetchas|fetchas2)\s*,((?:[^()]|\([^()]*\))*)\)")
_REFERENCE = re.compile(r"\$\(([A-Za-z0-9_]+)\)")


def library_downloads(library_path: str) -> list[Download]:
    """The archives a library's Makefile.uk downloads with Unikraft's fetch helpers.

    Reads simple `VAR = value` assignments and expands `$(VAR)` references, which is how every
    Unikraft library spells its download URL.
    """
    try:
        with open(os.path.join(library_path, "Makefile.uk"), encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return []
    variables: dict[str, str] = {}
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if match:
            variables[match.group(1)] = match.group(2)
    downloads = []
    for kind, raw_args in _FETCH.findall(text):
        args = [_expand(a.strip(), variables) for a in raw_args.split(",")]
        folder, url = args[0], args[1]
        if kind == "fetchas":
            filename = args[2]
        elif kind == "fetchas2":
            filename = args[3]
        else:
            filename = url.rsplit("/", 1)[-1]
        downloads.append(Download(folder, filename, url))
    return downloads


def _expand(text: str, variables: dict[str, str], depth: int = 0) -> str:
    if depth > 10:
        return text
    return _REFERENCE.sub(lambda m: _expand(variables.get(m.group(1), m.group(0)), variables, depth + 1), text)
