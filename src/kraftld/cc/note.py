"""The note kraftld-cc keeps of a project's resolved configuration: the compile flags one
resolution found, reused by the next compile while everything that decided them is unchanged.

Resolving the configuration means importing kraftld's pipeline and probing the Unikraft and
library trees (about 0.2 s of Python before gcc starts, measured in README's "kraftld-cc"
section), and a project compiles hundreds of times with the same answer: configure's probes,
then make's objects. So a resolution leaves a note under the cache (`cc/<digest>.json`), named by
a digest of what decides the configuration apart from the trees' contents:

- kraftld's own code (each file's size and modification time): another kraftld may render
  another configuration from the same inputs;
- the folder the compile runs in and the Kraftfile found from it (its bytes): the configuration
  is the project's Kraftfile, or kraftld-cc's default (see configuration.py);
- the environment kraftld reads (every `KRAFTLD_*` variable but KRAFTLD_LOG; HOME and XDG_CACHE_HOME, which place
  the cache; PATH, which finds gcc) and whether the mirror holds lib-musl (nolibc otherwise);
- the gcc on PATH (its resolved path, size and modification time): its own include folder is part
  of the flags.

A note holds only if, checked now, the trees' commits and uncommitted states are those the
resolution saw (the same `git_commit` and `worktree_state` that key the build cache: an edited
tree is another build), the build's recorded compile line reads as it did (the digest of its
text: a link that rebuilds kraftld's application object rewrites the file, usually with the same
line), and no build of that entry is running. Otherwise kraftld-cc
resolves again, exactly as without a note, and replaces it. The flags a note gives are the ones
the resolution read, so a compile with a note is the same gcc command as without.

Imports little (json, os, hashlib, the trees' state functions): it runs on every compile.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass

from ..atomic import write_atomically
from ..kraftfile import find_kraftfile
from ..layout import CacheLayout, EntryLayout
from ..sources import git_commit, worktree_state
from .unikraft_flags import BuildFlags, text_digest

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from ..commands import ProcessRunner

NOTE_FORMAT = 1  # a note of another format is ignored, as if absent
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the kraftld package
# Environment variables outside KRAFTLD_* that decide the configuration or the flags (see above).
VARIABLES = ("HOME", "XDG_CACHE_HOME", "PATH")
IGNORED = ("KRAFTLD_LOG",)  # how much kraftld says, not what it builds
COMPILER = "gcc"  # configuration.COMPILER (not imported: that module imports the settings stage)


@dataclass(frozen=True)
class Tree:
    """A source tree as the resolution saw it."""

    path: str
    commit: str | None
    state: str | None
    untracked: bool  # whether its state counts untracked files (sources.UNTRACKED_COUNT)


@dataclass(frozen=True)
class Note:
    trees: tuple[Tree, ...]
    entry: str  # the build entry's folder
    flags: BuildFlags


def note_path(cache: str, digest: str) -> str:
    return CacheLayout(cache).cc_note(digest)


def inputs_digest(environ: Mapping[str, str], cwd: str) -> str:
    """The digest of what decides the configuration besides the trees (see the module's docstring)."""
    digest = hashlib.sha256(f"kraftld-cc note {NOTE_FORMAT}\0{os.path.abspath(cwd)}\0".encode(errors="surrogateescape"))
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(folder, name)
            stat = os.stat(path)
            digest.update(f"{os.path.relpath(path, PACKAGE)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    kraftfile = find_kraftfile(cwd)
    if kraftfile is not None:
        with open(kraftfile, "rb") as handle:
            digest.update(kraftfile.encode(errors="surrogateescape") + b"\0" + handle.read() + b"\0")
    for name in sorted(environ):
        if (name.startswith("KRAFTLD_") and name not in IGNORED) or name in VARIABLES:
            digest.update(f"{name}={environ[name]}\0".encode(errors="surrogateescape"))
    sources = environ.get("KRAFTLD_SOURCES")
    if sources:
        digest.update(f"lib-musl:{os.path.isdir(os.path.join(sources, 'lib-musl'))}\0".encode())
    gcc = shutil.which(COMPILER, path=environ.get("PATH"))
    if gcc is not None:
        real = os.path.realpath(gcc)
        stat = os.stat(real)
        digest.update(f"{real}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode(errors="surrogateescape"))
    return digest.hexdigest()[:24]


def recorded_digest(path: str) -> str | None:
    """The digest of the recorded compile line's text, or None when there is none."""
    try:
        with open(path, "rb") as handle:
            return text_digest(handle.read())
    except FileNotFoundError:
        return None


def read_note(path: str) -> Note | None:
    """The note at `path`, or None when there is none (or it is of another format, or damaged)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if data["format"] != NOTE_FORMAT:
            return None
        flags = data["flags"]
        return Note(
            tuple(Tree(t["path"], t["commit"], t["state"], t["untracked"]) for t in data["trees"]),
            data["entry"],
            BuildFlags(
                tuple(flags["flags"]),
                tuple(flags["includes"]),
                flags["source"],
                tuple(flags["dropped"]),
                flags["digest"],
            ),
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def write_note(path: str, note: Note) -> None:
    data = {
        "format": NOTE_FORMAT,
        "trees": [{"path": t.path, "commit": t.commit, "state": t.state, "untracked": t.untracked} for t in note.trees],
        "entry": note.entry,
        "flags": {
            "flags": list(note.flags.flags),
            "includes": list(note.flags.includes),
            "source": note.flags.source,
            "dropped": list(note.flags.dropped),
            "digest": note.flags.digest,
        },
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomically(path, json.dumps(data, indent=1).encode("utf-8", "surrogateescape"))


def holds(note: Note, runner: ProcessRunner) -> bool:
    """Whether the note's flags are still the configuration's (see the module's docstring)."""
    if os.path.exists(EntryLayout(note.entry).build_marker):
        return False
    if not note.flags.digest or recorded_digest(note.flags.source) != note.flags.digest:
        return False
    for tree in note.trees:
        commit = git_commit(tree.path, runner)
        if commit != tree.commit or worktree_state(tree.path, commit, runner, untracked=tree.untracked) != tree.state:
            return False
    return True
