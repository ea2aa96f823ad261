"""The launcher's object store: whether it is on, where it lives, and the bound kept on its size.

The store itself is C (launcher/objects.c: a compile is given an earlier configuration's object
when the files it read hash the same and the configuration header defines the CONFIG_ words those
files contain the same). It sits in ccache's folder (`kraftld-objects/` in CCACHE_DIR, or in
kraftld's `ccache/`), so a second KRAFTLD_CACHE sharing a ccache store shares it too, and it is
on with a compiler cache: KRAFTLD_CCACHE=0 compiles everything afresh, KRAFTLD_OBJECTS=0 turns off
the store alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping

from .environment import NO_WORDS, YES_WORDS
from .errors import ConfigError
from .layout import CacheLayout

FOLDER = "kraftld-objects"  # in ccache's folder, beside ccache's own 0/ … f/
PARTS = ("m", "o", "tmp")  # manifests, objects, temporaries (objects.c's layout)
# Unikraft's KCONFIG_AUTOHEADER, relative to the build folder (its Makefile: KCONFIG_INCLUDES_DIR)
CONFIG_HEADER = "include/uk/bits/config.h"
# A musl configuration's objects take about 40 MB, and most of a neighbouring configuration's are
# the same files: 1 GiB keeps a few dozen configurations.
BOUND = 1 << 30
PRUNED_TO = BOUND * 3 // 4  # room for the next build before pruning again


def object_store(environ: Mapping[str, str], cache: str, compiler_cache: bool) -> str | None:
    """The store's folder, or None when it is off."""
    value = environ.get("KRAFTLD_OBJECTS")
    if value is not None:
        word = value.strip().lower()
        if word not in YES_WORDS | NO_WORDS:
            raise ConfigError(f"KRAFTLD_OBJECTS={value!r} is not a yes/no value", "set KRAFTLD_OBJECTS=1 or =0")
        if word in NO_WORDS:
            return None
    if not compiler_cache:
        return None
    return store_in(ccache_folder(environ, cache))


def store_in(ccache_dir: str) -> str:
    """The store's folder in a ccache folder (as kconfig_tools.tools_store for the kept tools)."""
    return os.path.join(ccache_dir, FOLDER)


def ccache_folder(environ: Mapping[str, str], cache: str) -> str:
    """ccache's folder, which kraftld's stores share (the object store, the kept kconfig tools):
    caches sharing a CCACHE_DIR share them too."""
    return environ.get("CCACHE_DIR") or CacheLayout(cache).ccache


def prepare(store: str) -> None:
    for part in PARTS:
        os.makedirs(os.path.join(store, part), exist_ok=True)


def prune(store: str, bound: int = BOUND, to: int = PRUNED_TO) -> list[str]:
    """Remove the least recently used objects (a hit refreshes an object's time) while the store
    is over `bound`, down to `to`; return the objects removed. A manifest entry whose object is
    gone is a miss, so a concurrent build loses nothing but the compile."""
    objects = os.path.join(store, "o")
    try:
        names = os.listdir(objects)
    except FileNotFoundError:
        return []
    groups: dict[str, list[os.stat_result]] = {}
    used: dict[str, float] = {}
    for name in names:
        stem, _, _ = name.rpartition(".")
        try:
            info = os.stat(os.path.join(objects, name))
        except FileNotFoundError:
            continue
        groups.setdefault(stem, []).append(info)
        if name.endswith(".o"):
            used[stem] = info.st_mtime
    total = sum(info.st_size for infos in groups.values() for info in infos)
    if total <= bound:
        return []
    removed: list[str] = []
    for stem in sorted(groups, key=lambda s: used.get(s, 0.0)):
        if total <= to:
            break
        for suffix in (".o", ".d", ".err", ".r"):  # the object first: without it the entry is a miss
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(objects, stem + suffix))
        total -= sum(info.st_size for info in groups[stem])
        removed.append(stem)
    return removed
