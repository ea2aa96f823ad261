"""Unikraft's kconfig tools (conf, fixdep), built once per kconfig sources, host tools and flags, and
placed in a new build folder before `make defconfig`, so make does not build them again.

Unikraft's Makefile builds `$(KCONFIG_DIR)/conf` and `$(UK_FIXDEP)` (both in `<build>/kconfig`)
by rules with no prerequisites: each runs a sub-make of support/kconfig/Makefile.br, which runs
flex, bison and a dozen HOSTCC compiles (about 2 s of every new build folder), and make runs it
only when the file is missing. Nothing else reads the objects beside them (only that sub-make
does), so the two programs are all a build folder needs; the other files in `kconfig/`
(auto.conf, *.uk) are the configuration's and are written by every configuration step.

What makes the programs (`key`): the tree's kconfig sources and the Makefile holding the rules,
the host programs (HOSTCC, bison, flex: by resolved path and file identity), and the environment
words that reach the sub-make (`ENVIRONMENT`, each with its why). Anything that cannot be
identified, a kept copy that is not whole, or a copy that fails leaves make to build them as it
does without kraftld. The build folder's path is not in the programs (conf and fixdep built in 17
build folders were byte-identical): -I of the folder only finds its generated parser.

Where they are kept: beside the launcher's object store in ccache's folder (`kraftld-kconfig/`,
see objects.py), not in KRAFTLD_CACHE, so a fresh KRAFTLD_CACHE sharing CCACHE_DIR (issue 14's
cold build in a new cache) gets them too; they go with a compiler cache (KRAFTLD_CCACHE=0 builds
them afresh, as it compiles everything afresh). A kept pair is 0.2 MB; `prune` keeps the `KEPT`
most recently used.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass

from .atomic import abandoned, replacing, write_atomically, writer_named

FOLDER = "kraftld-kconfig"  # in ccache's folder, beside the object store's kraftld-objects/
# The files make's rules name, in the order the sub-make builds them (conf's rule needs fixdep).
TOOLS = ("fixdep", "conf")
KCONFIG_DIR = "kconfig"  # Unikraft's KCONFIG_DIR, relative to the build folder
# In the Unikraft tree: the tools' sources and makefiles, and the Makefile with the rules that
# call them (HOSTCC's default, HOSTCFLAGS = CFLAGS_FOR_BUILD, YACC := bison, LEX := flex).
SOURCES = ("support/kconfig", "Makefile")
# The programs the sub-make runs: make's HOSTCC (its default when the environment has none), and
# the YACC and LEX the Makefile fixes with `:=`. gcc's driver names its compiler by its own
# version, so a changed compiler is a changed driver file.
HOST_PROGRAMS = (("HOSTCC", "gcc"), (None, "bison"), (None, "flex"))
# The environment words that reach the sub-make and change what it builds. kraftld's own make
# variables (A= O= C= N= L= CC= UK_DEFCONFIG=) reach it too, but its makefiles read none of them
# (CC is set to HOSTCC on its command line), and O= and C= differ in every build folder.
ENVIRONMENT = (
    ("HOSTCC", "the compiler, and its words (HOSTCC_NOCCACHE := $(HOSTCC))"),
    ("CFLAGS_FOR_BUILD", "Unikraft's HOSTCFLAGS, every compile's flags"),
    ("HOSTCFLAGS", "overridden by the Makefile, but named in case a tree does not"),
    ("HOST_EXTRACFLAGS", "Makefile.br appends to it (+=): an environment value is in every compile"),
    ("HOSTLDFLAGS", "the single-file programs' link flags"),
    ("HOST_LDFLAGS", "the multi-object programs' link flags (conf's)"),
    ("HOSTLDLIBS", "libraries linked into the programs"),
    ("CPATH", "gcc's include path from the environment"),
    ("C_INCLUDE_PATH", "gcc's include path from the environment"),
    ("LIBRARY_PATH", "gcc's library path from the environment"),
    ("COMPILER_PATH", "where gcc finds its own programs"),
    ("GCC_EXEC_PREFIX", "where gcc finds its own programs"),
    ("BISON_PKGDATADIR", "bison's skeletons: the parser's code"),
    ("M4", "the m4 bison runs"),
)
# Prefixed words: per-object flags (HOSTCFLAGS_conf.o …) are read by name.
ENVIRONMENT_PREFIXES = (("HOSTCFLAGS_", "per-object compile flags"), ("HOSTLDLIBS_", "per-program libraries"))
# MAKEFLAGS carries the variables of an outer make's command line into every sub-make; its other
# words (-j, the jobserver's descriptors) differ from run to run and change nothing built.
MAKEFLAGS = ("MAKEFLAGS", "MAKEOVERRIDES", "GNUMAKEFLAGS")
KEPT = 8  # tool pairs kept (one per Unikraft version and compiler in use, a few times over)
FORMAT = 1  # part of the key: raise it when what is kept changes


@dataclass(frozen=True)
class KconfigTools:
    """Where a build's kconfig tools are kept, and what decides which ones it may take."""

    store: str  # the kept tools' folder (`FOLDER` in ccache's folder)
    unikraft: str  # the Unikraft tree make is run in
    build_dir: str  # make's O=
    environ: tuple[tuple[str, str], ...]  # make's environment: HOSTCC, PATH to find the programs, …

    @property
    def kconfig_dir(self) -> str:
        return os.path.join(self.build_dir, KCONFIG_DIR)


def tools_store(ccache_dir: str) -> str:
    return os.path.join(ccache_dir, FOLDER)


def plan_tools(store: str, unikraft: str, build_dir: str, environ: Mapping[str, str]) -> KconfigTools:
    return KconfigTools(store, unikraft, build_dir, tuple(sorted(environ.items())))


def key(tools: KconfigTools) -> str | None:
    """The digest of what makes the tools, or None when something in it cannot be identified."""
    environ = dict(tools.environ)
    digest = hashlib.sha256(f"kraftld kconfig tools {FORMAT}\n".encode())
    try:
        for source in SOURCES:
            _hash_tree(digest, tools.unikraft, source)
    except OSError:
        return None
    for variable, default in HOST_PROGRAMS:
        words = (environ.get(variable) or default).split() if variable else [default]
        for word in words:
            if word.startswith("-"):
                continue  # a flag in HOSTCC: in the environment words below
            found = shutil.which(word, path=environ.get("PATH", os.defpath))
            if found is None:
                return None  # make fails or builds otherwise: left to make
            resolved = os.path.realpath(found)
            info = os.stat(resolved)
            digest.update(f"program {word} {resolved} {info.st_size} {info.st_mtime_ns}\n".encode())
    for variable, _why in ENVIRONMENT:
        if variable in environ:
            digest.update(f"env {variable}={environ[variable]}\n".encode())
    for name, value in sorted(environ.items()):
        if name.startswith(tuple(prefix for prefix, _why in ENVIRONMENT_PREFIXES)):
            digest.update(f"env {name}={value}\n".encode())
    for variable in MAKEFLAGS:
        assignments = [word for word in environ.get(variable, "").split() if "=" in word and not word.startswith("-")]
        digest.update(f"make {variable} {' '.join(assignments)}\n".encode())
    return digest.hexdigest()[:32]


def _hash_tree(digest: hashlib._Hash, root: str, relative: str) -> None:
    path = os.path.join(root, relative)
    if not os.path.isdir(path):
        with open(path, "rb") as handle:
            digest.update(f"file {relative} ".encode() + hashlib.sha256(handle.read()).digest())
        return
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            _hash_tree(digest, root, os.path.relpath(os.path.join(folder, name), root))


@dataclass(frozen=True)
class Placed:
    """What `before_defconfig` did: `placed` kept tools, or left make to build them and (with
    `keep_as`) to have them kept after."""

    placed: bool
    keep_as: str | None = None  # the key to keep the tools make builds under (`keep`)


def before_defconfig(tools: KconfigTools) -> Placed:
    """Put kept tools in a build folder that has none yet. A folder that has some keeps them and
    nothing is kept from it: they may have been built for other host tools than today's."""
    if any(os.path.lexists(os.path.join(tools.kconfig_dir, name)) for name in TOOLS):
        return Placed(False)
    digest = key(tools)
    if digest is None:
        return Placed(False)
    return Placed(True) if place(tools, digest) else Placed(False, digest)


def place(tools: KconfigTools, digest: str) -> bool:
    """Copy the tools kept under `digest` into the build folder; whether they are there now.

    Each copy reaches its name by rename, fixdep first: a failure midway removes what was placed,
    so make never finds conf without fixdep (it would not build fixdep then: `prepare` needs it
    only by name) and builds both as usual."""
    kept = os.path.join(tools.store, digest)
    if not all(os.path.isfile(os.path.join(kept, name)) for name in TOOLS):
        return False
    placed: list[str] = []
    try:
        os.makedirs(tools.kconfig_dir, exist_ok=True)
        for name in TOOLS:
            target = os.path.join(tools.kconfig_dir, name)
            _copy(os.path.join(kept, name), target)
            placed.append(target)
    except OSError:
        for target in placed:
            with contextlib.suppress(OSError):
                os.unlink(target)
        return False
    with contextlib.suppress(OSError):
        os.utime(kept)  # used: `prune` keeps the most recently used
    return True


def keep(tools: KconfigTools, digest: str) -> bool:
    """After make built the tools in a build folder: keep a copy for the next new build folder.
    Whether a copy is kept now (made whole in a private folder, then renamed; one another build
    kept first stays)."""
    kept = os.path.join(tools.store, digest)
    if os.path.isdir(kept):
        return True
    with contextlib.suppress(OSError):
        os.makedirs(tools.store, exist_ok=True)
        with replacing(kept, folder=True) as partial:
            for name in TOOLS:
                _copy(os.path.join(tools.kconfig_dir, name), os.path.join(partial.temporary, name))
    return os.path.isdir(kept)


def prune(store: str, kept: int = KEPT) -> list[str]:
    """Remove all but the `kept` most recently used tool pairs (and any writer's leftovers whose
    writer is gone); return what was removed."""
    try:
        names = os.listdir(store)
    except FileNotFoundError:
        return []
    pairs: list[tuple[float, str]] = []
    removed: list[str] = []
    for name in names:
        path = os.path.join(store, name)
        if ".partial-" in name:
            if abandoned(name):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
            continue
        with contextlib.suppress(FileNotFoundError):
            pairs.append((os.stat(path).st_mtime, path))
    for _used, path in sorted(pairs, reverse=True)[kept:]:
        # Renamed away first: a build placing from it finds it whole or gone.
        trash = writer_named(f"{path}.partial")
        with contextlib.suppress(OSError):
            os.rename(path, trash)
            shutil.rmtree(trash, ignore_errors=True)
            removed.append(path)
    return removed


def _copy(source: str, target: str) -> None:
    """`source` at `target`, executable, whole (atomic's rename from a private name beside)."""
    with open(source, "rb") as handle:
        write_atomically(target, handle.read(), 0o755)
