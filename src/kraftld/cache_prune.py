"""Keeps kraftld's cache under a size bound: what it holds, by kind, least recently used first.

The cache holds several kinds of things (`KINDS`, one row each, with its why): builds, clones,
Rust sysroots, notes and derived records. After every full build (the only link that makes the
cache grow much) and on `kraftld --prune-cache`, every item of every kind is measured, and the
least recently used go until the kinds the bound covers fit in KRAFTLD_CACHE_MAX. Three rules
hold whatever the order:

- an item is removed only while holding its lock exclusively, taken without waiting: a build
  entry's own `lock` (links, builds and head starts hold it), or the `<item>.lock` beside a clone
  or a sysroot (a link holds those of the trees and inputs it uses, shared, from its plan to
  its end: `holding`). An item in use is kept, and the entry a link has just used is kept even when
  it alone is over the bound;
- a clone a kept build points into is kept: which trees a build uses is read from its
  fast-relink record (`prebuilt.json`'s `trees`); a build without a readable record (a failed
  or an interrupted one) is taken to need every clone, until it goes itself;
- a note that serves a build entry which is gone can serve nothing: it counts as never used,
  so it goes first.

A folder is renamed away under its lock, so a later link finds it whole or gone, never half
removed; the renamed folder is then deleted. Lock files stay (empty): a lock file removed while
another process has it open would let two processes each hold "the" lock. What killed writers
leave (`LEFTOVERS`: a prune's renamed folder, a clone or a sysroot half made) goes at every prune,
once its writer is gone.

When an item was last used is read from what kraftld leaves without extra writes where it can:
a full build appends to `build.log`; a fast relink (and a head start) makes and removes its own
folder in `links/`; a link touches the lock files it holds; kraftld-sysroot touches the sysroot's
record each time it names it; notes and records are rewritten when they change.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import marshal
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from .atomic import abandoned, writer_named
from .errors import ConfigError
from .layout import CacheLayout

DEFAULT_CACHE_MAX = 4 << 30  # a few musl configurations (≈ 0.25 GB each at -g2) and many nolibc ones
# Names of items being removed: a rename under the item's lock, then the folder is deleted.
TRASH_PREFIX = ".removing-"
LOCK_SUFFIX = ".lock"  # the lock beside a clone or a sysroot (sysroot.ensure_sysroot's too)
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_cache_max(environ: Mapping[str, str]) -> int | None:
    """KRAFTLD_CACHE_MAX in bytes (suffixes K, M, G, T are powers of 1024); 0 or `none`: no bound."""
    text = environ.get("KRAFTLD_CACHE_MAX", "").strip()
    if not text:
        return DEFAULT_CACHE_MAX
    if text.lower() in ("none", "unlimited", "off"):
        return None
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(
            f"KRAFTLD_CACHE_MAX={text!r} is not a size",
            "write it like 4G, 500M or a number of bytes; `none` for no bound",
        )
    size = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    return size or None


class Lock(enum.Enum):
    """How an item is held by whoever uses it, and so how a prune makes sure nobody does."""

    INSIDE = "inside"  # `<item>/lock`: a build entry's
    BESIDE = "beside"  # `<item>.lock`: a clone's or a sysroot's
    NONE = "none"  # a file its readers open once and do without when it is missing


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return 0


def _build_used(entry: str) -> int:
    return max(_mtime(os.path.join(entry, name)) for name in ("", "links", "build.log", "prebuilt.json"))


def _sysroot_used(path: str) -> int:
    from .sysroot import RECORD

    return max(_mtime(path), _mtime(path + LOCK_SUFFIX), _mtime(os.path.join(path, RECORD)))


def _clone_used(path: str) -> int:
    return max(_mtime(path), _mtime(path + LOCK_SUFFIX))


def _build_trees(entry: str) -> frozenset[str] | None:
    """The source trees a build entry points into, from its fast-relink record; None: unknown."""
    try:
        with open(os.path.join(entry, "prebuilt.json"), encoding="utf-8") as handle:
            trees = json.load(handle)["trees"]
        return frozenset(os.path.abspath(path) for path, _state in trees)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _headstart_entry(path: str) -> str | None:
    from .headstart.note import from_record

    try:
        with open(path, "rb") as handle:
            note = from_record(marshal.load(handle))
    except (OSError, ValueError, EOFError, TypeError):
        return None
    return None if note is None else note.entry


def _cc_entry(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            entry = json.load(handle)["entry"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return entry if isinstance(entry, str) else None


@dataclass(frozen=True)
class Kind:
    """One kind of thing in the cache, as the bound treats it."""

    folder: str  # under the cache; also its name in what --prune-cache prints
    folders: bool  # whether its items are folders (else files)
    lock: Lock
    why: str
    used: Callable[[str], int] = _mtime  # when an item was last used, in ns since the epoch
    # The paths an item points into, which must stay while it does (None: unknown, so every item
    # of a kind `needed_by` this one).
    points_into: Callable[[str], frozenset[str] | None] | None = None
    # The kind whose kept items keep those of this kind they point into; such an item is used as
    # recently as the latest of them.
    needed_by: str | None = None
    # For a note: the build entry it serves (an item whose entry is gone counts as never used).
    serves: Callable[[str], str | None] | None = None


_NAMES = CacheLayout("")  # the folders' names, relative to the cache (layout.py names them all)
# The kinds the bound covers, each row with its why. A new kind of item in the cache is a row
# here (and a line in layout.py's map and README's "The build cache").
KINDS = (
    Kind(
        _NAMES.builds,
        True,
        Lock.INSIDE,
        "one configuration's Unikraft build (100 MB-1.5 GB); links, builds and head starts hold its lock",
        used=_build_used,
        points_into=_build_trees,
    ),
    Kind(
        _NAMES.sources,
        True,
        Lock.BESIDE,
        "clones of Unikraft and its libraries; a link holds the clones its trees are in (`holding`), and a "
        "kept build needs the one it was built from (its objects' paths and the record's trees point into it)",
        used=_clone_used,
        needed_by=_NAMES.builds,
    ),
    Kind(
        _NAMES.sysroots,
        True,
        Lock.BESIDE,
        "Rust std sysroots (kraftld-sysroot builds them under this lock); a link whose inputs are in one holds "
        "it; kraftld-sysroot builds a removed one again (minutes), so it goes only when least recently named",
        used=_sysroot_used,
    ),
    Kind(
        _NAMES.headstart,
        False,
        Lock.NONE,
        "the head start's notes: read once by the next link, which without one only starts later",
        serves=_headstart_entry,
    ),
    Kind(
        _NAMES.cc_notes,
        False,
        Lock.NONE,
        "kraftld-cc's notes: a compile without one (or whose build is gone) resolves its configuration again",
        serves=_cc_entry,
    ),
    Kind(
        _NAMES.symbols, False, Lock.NONE, "symbol tables of inputs and libraries: read again from the file when missing"
    ),
    Kind(_NAMES.progress, False, Lock.NONE, "object counts of past builds: a build without one shows no percentage"),
    Kind(_NAMES.kvm, False, Lock.NONE, "kraftld-run's verdicts on KVM: the next boot tries KVM again and writes one"),
)
# What the bound leaves alone, each with its why (measured and printed all the same).
UNBOUNDED = (
    (
        _NAMES.ccache,
        "ccache's own store, bounded by ccache itself (CCACHE_MAXSIZE, 2G by default); the object store and the "
        "kept kconfig tools in it are bounded by kraftld (objects.prune, kconfig_tools.prune)",
    ),
    (_NAMES.runtime, "kraftld's runtime object and compiler launcher: a few files, used by every build without a lock"),
)


@dataclass(frozen=True)
class Item:
    kind: str  # its Kind's folder
    path: str
    size: int  # bytes on disk
    last_used: int  # nanoseconds since the epoch; 0 for a note whose build is gone


@dataclass(frozen=True)
class PruneReport:
    before: int  # bytes of every item the bound covers, before
    after: int
    removed: tuple[Item, ...]
    kept_in_use: tuple[Item, ...]  # items that would have gone but were in use
    kept_needed: tuple[tuple[Item, str], ...] = ()  # items that would have gone, and a kept item needing each
    unbounded: tuple[tuple[str, int], ...] = ()  # (folder, bytes) of what the bound leaves alone


def disk_usage(path: str, seen: set[tuple[int, int]] | None = None) -> int:
    """Bytes allocated on disk under `path` (a folder or a file), each hard-linked file counted once."""
    seen = set() if seen is None else seen
    total = 0
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return 0
    if not os.path.isdir(path) or os.path.islink(path):
        return info.st_blocks * 512
    for folder, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            with contextlib.suppress(FileNotFoundError):
                info = os.lstat(os.path.join(folder, name))
                if (info.st_dev, info.st_ino) in seen:
                    continue
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


def _item_names(kind: Kind, folder: str) -> list[str]:
    """The names of a kind's items: not the temporaries of writers (`.`-names, a clone's
    `.partial-…`, a sysroot's `.partial`), nor the lock files beside."""
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    items = []
    for name in names:
        if name.startswith(".") or ".partial" in name or name.endswith(LOCK_SUFFIX):
            continue
        if os.path.isdir(os.path.join(folder, name)) == kind.folders:
            items.append(name)
    return items


def list_items(cache: str, kinds: Iterable[Kind] = KINDS) -> list[Item]:
    """Every item of `kinds`, least recently used first.

    An item a kind `needed_by` another points into is used as recently as the latest of those
    (a clone, as the latest build built from it); a note whose build entry is gone, never."""
    found: list[tuple[Kind, str]] = []
    for kind in kinds:
        folder = os.path.join(cache, kind.folder)
        found += [(kind, os.path.join(folder, name)) for name in _item_names(kind, folder)]
    used = {path: kind.used(path) for kind, path in found}
    pointers = _pointers(found)
    items = []
    for kind, path in found:
        when = used[path]
        if kind.serves is not None:
            entry = kind.serves(path)
            if entry is not None and not os.path.isdir(entry):
                when = 0
        if kind.needed_by is not None:
            when = max([when, *(used[user] for user in _users(pointers, kind.needed_by, path))])
        items.append(Item(kind.folder, path, disk_usage(path), when))
    items.sort(key=lambda item: (item.last_used, item.path))
    return items


Pointers = dict[str, tuple[str, frozenset[str] | None]]  # an item's path: (its kind, what it points into)


def _pointers(found: Iterable[tuple[Kind, str]]) -> Pointers:
    return {path: (kind.folder, kind.points_into(path)) for kind, path in found if kind.points_into is not None}


def _users(pointers: Pointers, kind: str, path: str) -> list[str]:
    """The items of `kind` that point into `path` (all those that do not say what they point into)."""
    inside = os.path.abspath(path) + os.sep
    return sorted(
        user
        for user, (user_kind, targets) in pointers.items()
        if user_kind == kind and (targets is None or any(t == inside[:-1] or t.startswith(inside) for t in targets))
    )


def list_entries(cache: str) -> list[Item]:
    """The build entries, least recently used first."""
    return list_items(cache, [kind for kind in KINDS if kind.folder == "builds"])


def _kind(name: str) -> Kind:
    return next(kind for kind in KINDS if kind.folder == name)


@contextlib.contextmanager
def _unused(lock_path: str) -> Iterator[bool]:
    """Holds a lock exclusively if nobody else holds it; yields whether it got it. A lock file
    nobody has made yet is made (a clone no link has held since kraftld began holding clones)."""
    try:
        handle = open(lock_path, "a+")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        yield False  # its folder was removed meanwhile by another prune
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def remove_item(kind: Kind, path: str) -> bool:
    """Remove an item unless it is in use; whether it was removed."""
    if kind.lock is Lock.NONE:
        try:
            os.unlink(path)  # one rename-like step: a reader sees the file or nothing
        except FileNotFoundError:
            return False
        return True
    parent, name = os.path.split(path)
    trash = os.path.join(parent, writer_named(f"{TRASH_PREFIX}{name}"))
    # A build entry's lock is inside it (gone: removed meanwhile); a clone's beside it, made here
    # if no link has held it yet.
    lock = os.path.join(path, "lock") if kind.lock is Lock.INSIDE else path + LOCK_SUFFIX
    with _unused(lock) as free:
        if not free or not os.path.isdir(path):
            return False
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


def remove_entry(entry: str) -> bool:
    """Remove a build entry unless it is in use; whether it was removed."""
    return remove_item(_kind("builds"), entry)


# What killed processes leave behind, by the name of the folder: (marker in the name, what it is).
# A leftover goes at every prune, before any item, once its writer is dead or no longer holds it.
LEFTOVERS = (
    (TRASH_PREFIX, "a folder a prune renamed away and was killed before deleting (`.removing-<name>-<pid>-…`)"),
    (".partial-", "a clone `git clone` was killed while making (`atomic.replacing`: `<clone>.partial-<pid>-…`)"),
    (".partial", "a sysroot kraftld-sysroot was killed while building, under the sysroot's lock (`<sysroot>.partial`)"),
)


def _remove_leftover(folder: str, name: str) -> None:
    """Remove the leftover `name` (see LEFTOVERS) if the process that made it is gone."""
    path = os.path.join(folder, name)
    if name.startswith(TRASH_PREFIX) or ".partial-" in name:
        if abandoned(name):
            shutil.rmtree(path, ignore_errors=True)
    elif name.endswith(".partial"):  # kraftld-sysroot holds the sysroot's lock while it builds there
        with _unused(os.path.join(folder, name.removesuffix(".partial") + LOCK_SUFFIX)) as free:
            if free:
                shutil.rmtree(path, ignore_errors=True)


def _remove_leftover_trash(cache: str) -> None:
    """Folders of killed writers (LEFTOVERS)."""
    for kind in KINDS:
        root = os.path.join(cache, kind.folder)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for name in os.listdir(root):
                if any(mark in name for mark, _why in LEFTOVERS) and os.path.isdir(os.path.join(root, name)):
                    _remove_leftover(root, name)


def prune(cache: str, bound: int | None, keep: str | None = None) -> PruneReport:
    """Remove least recently used items until the kinds the bound covers take at most `bound` bytes.

    `keep`: a build entry never removed (the one a link has just used); None as `bound`: no bound.
    """
    _remove_leftover_trash(cache)
    items = list_items(cache)
    before = sum(item.size for item in items)
    total = before
    removed: list[Item] = []
    in_use: list[Item] = []
    needed: list[tuple[Item, str]] = []
    kinds = {kind.folder: kind for kind in KINDS}
    kept = _pointers((kinds[item.kind], item.path) for item in items)  # what the kept items point into
    if bound is not None:
        for item in items:
            if total <= bound:
                break
            if keep is not None and os.path.abspath(item.path) == os.path.abspath(keep):
                continue
            needed_by = kinds[item.kind].needed_by
            users = [] if needed_by is None else _users(kept, needed_by, item.path)
            if users:
                needed.append((item, users[0]))
                continue
            if remove_item(kinds[item.kind], item.path):
                removed.append(item)
                total -= item.size
                kept.pop(item.path, None)
            else:
                in_use.append(item)
    unbounded = tuple((name, disk_usage(os.path.join(cache, name))) for name, _why in UNBOUNDED)
    return PruneReport(before, total, tuple(removed), tuple(in_use), tuple(needed), unbounded)


@contextlib.contextmanager
def holding(paths: Iterable[str], cache: str) -> Iterator[bool]:
    """Hold, shared and for the block, every clone or sysroot of the cache one of `paths` lies in
    (a link's trees and inputs), so no prune removes them meanwhile; yields whether each is still
    there (a prune may have removed one between the link finding it and holding it: the link
    then plans again, which clones it again). Each hold touches the lock file: the item's use."""
    held = sorted({item for item in (_beside_item(path, cache) for path in paths) if item is not None})
    with contextlib.ExitStack() as stack:
        whole = True
        for item in held:
            try:
                handle = stack.enter_context(open(item + LOCK_SUFFIX, "a+"))
            except FileNotFoundError:  # its kind's folder is gone too
                whole = False
                continue
            fcntl.flock(handle, fcntl.LOCK_SH)  # a prune holds it only for a rename; a sysroot build longer
            with contextlib.suppress(OSError):
                os.utime(handle.fileno())
            whole = whole and os.path.isdir(item)
        yield whole


def _beside_item(path: str, cache: str) -> str | None:
    """The clone or sysroot (an item whose lock is beside it) that `path` lies in, if any."""
    for kind in KINDS:
        if kind.lock is not Lock.BESIDE:
            continue
        folder = os.path.join(os.path.abspath(cache), kind.folder) + os.sep
        absolute = os.path.abspath(path)
        if absolute.startswith(folder):
            name = absolute[len(folder) :].split(os.sep, 1)[0]
            if name and not name.startswith(".") and ".partial" not in name:
                return folder + name
    return None


def describe(report: PruneReport, bound: int | None) -> str:
    """What `kraftld --prune-cache` prints."""
    limit = "no bound" if bound is None else f"bound {human(bound)} (KRAFTLD_CACHE_MAX)"
    lines = [f"cache: {human(report.before)} before, {human(report.after)} after; {limit}"]
    lines += [f"removed {item.path} ({human(item.size)})" for item in report.removed]
    lines += [f"kept {item.path} ({human(item.size)}): in use" for item in report.kept_in_use]
    lines += [f"kept {item.path} ({human(item.size)}): the build {user} needs it" for item, user in report.kept_needed]
    lines += [f"not bounded: {name}/ ({human(size)})" for name, size in report.unbounded if size]
    return "\n".join(lines) + "\n"


def human(size: int) -> str:
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"
