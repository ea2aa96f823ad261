"""Keeps kraftld's build cache under a size bound: least recently used build entries go first.

A build entry (`builds/<key>/`) holds one configuration's whole Unikraft build; nothing else
ever removes one. After every full build (the only link that makes the cache grow) and on
`kraftld --prune-cache`, the entries are measured and the least recently used are removed until
the builds fit in KRAFTLD_CACHE_MAX. An entry is removed only while holding its lock
exclusively, taken without waiting: an entry a link, a build or a head start uses (they hold
its lock) is never removed, and the entry a link has just used is kept even when it alone is
over the bound. The entry is renamed away under the lock, so a later link finds it gone and
builds it again from scratch, never a half-removed folder; the renamed folder is then deleted.

When an entry was last used is read from what links leave in it without extra writes: a full
build appends to `build.log`; a fast relink (and a head start) makes and removes its own folder
in `links/`, which moves that folder's modification time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .errors import ConfigError

DEFAULT_CACHE_MAX = 4 << 30  # a few musl configurations (≈ 0.25 GB each at -g2) and many nolibc ones
# Names of entries being removed: a rename under the entry's lock, then the folder is deleted.
TRASH_PREFIX = ".removing-"
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


@dataclass(frozen=True)
class Entry:
    path: str
    size: int  # bytes on disk
    last_used: int  # nanoseconds since the epoch


@dataclass(frozen=True)
class PruneReport:
    before: int  # bytes of all build entries before
    after: int
    removed: tuple[Entry, ...]
    kept_in_use: tuple[Entry, ...]  # entries that would have gone but were in use


def builds_dir(cache: str) -> str:
    return os.path.join(cache, "builds")


def disk_usage(path: str, seen: set[tuple[int, int]] | None = None) -> int:
    """Bytes allocated on disk under `path`, each hard-linked file counted once."""
    seen = set() if seen is None else seen
    total = 0
    for folder, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            with contextlib.suppress(FileNotFoundError):
                info = os.lstat(os.path.join(folder, name))
                if (info.st_dev, info.st_ino) in seen:
                    continue
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


def last_used(entry: str) -> int:
    times = []
    for name in ("", "links", "build.log", "prebuilt.json"):
        with contextlib.suppress(FileNotFoundError):
            times.append(os.stat(os.path.join(entry, name)).st_mtime_ns)
    return max(times, default=0)


def list_entries(cache: str) -> list[Entry]:
    """The build entries, least recently used first."""
    root = builds_dir(cache)
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    entries = []
    for name in names:
        path = os.path.join(root, name)
        if name.startswith(".") or not os.path.isdir(path):
            continue
        entries.append(Entry(path, disk_usage(path), last_used(path)))
    entries.sort(key=lambda entry: (entry.last_used, entry.path))
    return entries


@contextlib.contextmanager
def _unused(entry: str) -> Iterator[bool]:
    """Holds the entry's lock exclusively if nobody else holds it; yields whether it got it."""
    try:
        handle = open(os.path.join(entry, "lock"), "a+")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        yield False  # removed meanwhile by another prune
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def remove_entry(entry: str) -> bool:
    """Remove a build entry unless it is in use; whether it was removed."""
    parent, name = os.path.split(entry)
    trash = os.path.join(parent, f"{TRASH_PREFIX}{name}-{os.getpid()}-{os.urandom(4).hex()}")
    with _unused(entry) as free:
        if not free:
            return False
        try:
            os.rename(entry, trash)
        except FileNotFoundError:
            return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


def _remove_leftover_trash(cache: str) -> None:
    """Folders a prune renamed but was killed before deleting."""
    root = builds_dir(cache)
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(root):
            if name.startswith(TRASH_PREFIX):
                pid = name[len(TRASH_PREFIX) :].rsplit("-", 2)[-2]
                if pid.isdigit() and _alive(int(pid)):
                    continue
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune(cache: str, bound: int | None, keep: str | None = None) -> PruneReport:
    """Remove least recently used entries until the builds take at most `bound` bytes.

    `keep`: an entry never removed (the one a link has just used); None as `bound`: no bound.
    """
    _remove_leftover_trash(cache)
    entries = list_entries(cache)
    before = sum(entry.size for entry in entries)
    total = before
    removed: list[Entry] = []
    in_use: list[Entry] = []
    if bound is not None:
        for entry in entries:
            if total <= bound:
                break
            if keep is not None and os.path.abspath(entry.path) == os.path.abspath(keep):
                continue
            if remove_entry(entry.path):
                removed.append(entry)
                total -= entry.size
            else:
                in_use.append(entry)
    return PruneReport(before, total, tuple(removed), tuple(in_use))


def describe(report: PruneReport, bound: int | None) -> str:
    """What `kraftld --prune-cache` prints."""
    limit = "no bound" if bound is None else f"bound {human(bound)} (KRAFTLD_CACHE_MAX)"
    lines = [f"builds: {human(report.before)} before, {human(report.after)} after; {limit}"]
    lines += [f"removed {entry.path} ({human(entry.size)})" for entry in report.removed]
    lines += [f"kept {entry.path} ({human(entry.size)}): in use" for entry in report.kept_in_use]
    return "\n".join(lines) + "\n"


def human(size: int) -> str:
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"
