"""Finds the Unikraft tree and library sources a build uses.

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
    # The commit and a digest of the uncommitted changes (see `worktree_state`); it keys the build
    # cache, so an edited tree never reuses a build of the unedited one. None: not a git checkout.
    state: str | None = None


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


# Whether a tree's untracked files count as changes, by kind of tree. A library's are its own
# (a new patch in patches/ changes what its build applies) and a library is small, so listing
# them is cheap; Unikraft's tree is large (listing its untracked files takes 50-80 ms here, every
# link) and its build reads new files only through edits to tracked Makefile.uk files.
UNTRACKED_COUNT = {"unikraft": False, "library": True}


def worktree_state_command(path: str, *, untracked: bool) -> Command:
    # --no-optional-locks: links running side by side must not contend for the tree's index lock.
    return Command(
        (
            "git",
            "--no-optional-locks",
            "-C",
            path,
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all" if untracked else "--untracked-files=no",
        )
    )


def worktree_state(path: str, commit: str | None, runner: ProcessRunner, *, untracked: bool) -> str | None:
    """The commit plus a digest of every uncommitted change: the status and each changed file's bytes.

    The status alone would not tell a second edit of a file from the first (both are ` M file`),
    so the contents of the files it names are part of the digest. None when the tree is not a
    git checkout (or git cannot read it): then only its path and commit key the cache.
    """
    if commit is None:
        return None
    completed = runner(worktree_state_command(path, untracked=untracked))
    if completed.returncode != 0:
        return None
    status = "\n".join(completed.tail)
    if not status.strip("\0\n"):
        return commit
    digest = hashlib.sha256(status.encode("utf-8", "surrogateescape"))
    for name in changed_paths(status):
        digest.update(b"\0" + name.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(_file_digest(os.path.join(path, name)))
    return f"{commit}+{digest.hexdigest()[:20]}"


def changed_paths(status: str) -> list[str]:
    """The paths in `git status --porcelain=v1 -z` output (a rename's both paths)."""
    fields = status.split("\0")
    paths = []
    index = 0
    while index < len(fields):
        entry = fields[index].lstrip("\n")
        index += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":  # the source path follows as a field of its own
            if index < len(fields):
                paths.append(fields[index])
            index += 1
    return paths


def _file_digest(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").digest()
    except IsADirectoryError:
        return b"directory"
    except FileNotFoundError:
        return b"deleted"
    except OSError as error:
        return f"unreadable {error.errno}".encode()
