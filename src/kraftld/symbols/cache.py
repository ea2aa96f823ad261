"""Keeps what a file's symbols are under the cache, by the file's identity (path, size,
modification time, inode): the large rlibs of a Rust toolchain are read once.

The cache only saves time: a missing, stale or damaged entry means the file is read again, and
an entry that cannot be written costs the next link a re-read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os

from ..layout import CacheLayout
from .objects import Member

# Bumped when the cached form of a file's symbols changes.
CACHE_FORMAT = 3


def file_identity(path: str) -> str | None:
    """What an entry is valid for: the file's size, modification time and inode (None: no file)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return f"{CACHE_FORMAT}:{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"


def entry_path(path: str, cache: str) -> str:
    """Where the symbols of `path` are kept under `cache`."""
    # One entry per path, holding the identity of the file it was read from: a rebuilt object
    # replaces its entry instead of adding one at every build.
    digest = hashlib.sha256(os.fsencode(os.path.realpath(path))).hexdigest()[:24]
    return CacheLayout(cache).symbol_table(digest)


def load(where: str | None, identity: str | None) -> tuple[Member, ...] | None:
    """The members kept at `where` if they were read from the file as `identity` says it is now."""
    if where is None or identity is None:
        return None
    try:
        with open(where, encoding="utf-8") as handle:
            data = json.load(handle)
        if data["identity"] != identity:
            return None
        return tuple(
            Member(
                m["name"],
                dict(m["defines"]),
                frozenset(m["undefined"]),
                tuple(m["kept"]),
                {int(k): (tuple(v[0]), tuple(v[1])) for k, v in m["edges"].items()},
            )
            for m in data["members"]
        )
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None  # not cached yet, or a damaged entry: read the file again


def store(where: str | None, identity: str | None, members: tuple[Member, ...]) -> None:
    """Keep `members` at `where` for the file as `identity` says it was before it was read."""
    if where is None or identity is None:
        return
    data = [
        {
            "name": m.name,
            "defines": m.defines,
            "undefined": sorted(m.undefined),
            "kept": list(m.kept),
            "edges": {str(k): [list(v[0]), list(v[1])] for k, v in m.edges.items()},
        }
        for m in members
    ]
    # The cache only saves time: a full disk or a read-only cache costs the next link a re-read.
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(where), exist_ok=True)
        temporary = f"{where}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump({"identity": identity, "members": data}, handle)
        os.replace(temporary, where)
