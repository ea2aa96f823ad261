"""How Unikraft's build runs its compiler: kraftld's launcher, through ccache and distcc when wanted.

Unikraft's make takes the compiler from `CC` on its command line (`CC="ccache gcc"` is the form
its cc-version.sh expects; the final link uses `LD`, which stays plain gcc, so the recorded
final steps a fast relink replays never involve a compiler cache). kraftld sets `CC` to a small
launcher of its own (launcher/kraftld_cc_launcher.c, compiled for the host once per cache), which
runs the compiler in the build folder with the build folder's paths made relative:

- a compiler cache can only share an object between two builds when the compile commands and the
  compiler's working directory read the same. Unikraft's make runs every compile from the
  Unikraft tree with absolute paths into the build folder (`builds/<key>/build/…`), which differ
  for every configuration and every KRAFTLD_CACHE; ccache's CCACHE_BASEDIR relativises paths to
  the working directory, which here is the Unikraft tree, so the key would still show. Compiling
  in the build folder with paths relative to it makes a musl source compiled for one
  configuration the same command as for another, or for the same configuration in a fresh cache;
- `-fdebug-prefix-map=BUILD=/kraftld-build` names that working directory the same for every
  build in the debug information (gcc records it as DW_AT_comp_dir; ccache hashes the mapped
  directory, see "Compiling in different directories" in ccache's manual). In gdb, `set
  substitute-path /kraftld-build <entry>/build` finds the sources unpacked in the build folder;
- the dependency files gcc writes then name the build folder's files relatively, which make,
  running in the Unikraft tree, would not find (the problem OpenJDK's JDK-8313374 and CMake's
  #22364 hit with CCACHE_BASEDIR): the launcher rewrites them to absolute paths before
  Unikraft's fixdep reads them.

The launcher is used with and without ccache, so both give the compiler the same command in the
same folder and the images are byte-identical either way (a test checks it). With a compiler
cache it also keeps and serves objects itself (`--objects`, launcher/objects.c, objects.py): an
earlier configuration's object for a compile whose files and options read the same, before
ccache is asked.

ccache is used when it is installed, or when KRAFTLD_CCACHE=1 (then it must be); KRAFTLD_CCACHE=0
turns it off. Its store is `ccache/` in kraftld's cache unless CCACHE_DIR is set; every other
ccache setting (CCACHE_REMOTE_STORAGE for a team's shared store, CCACHE_MAXSIZE…) passes through
the environment. distcc is used when DISTCC_HOSTS is set: with ccache as its CCACHE_PREFIX (ccache
hands its misses to distcc), without ccache as the launcher's compiler.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass

from .commands import Command
from .compiled import Compiled, digest_of, package_source
from .environment import NO_WORDS, YES_WORDS
from .errors import ConfigError
from .kconfig_tools import tools_store
from .layout import CacheLayout
from .objects import CONFIG_HEADER, ccache_folder, object_store

COMPILER = "gcc"  # Unikraft's CONFIG_COMPILER default; its CROSS_COMPILE prefix stays empty on x86_64
DEBUG_PREFIX = "/kraftld-build"  # what the debug information calls every build folder
# ccache's own bound on kraftld's store (its default is 5 GB); a user's CCACHE_MAXSIZE wins.
DEFAULT_CCACHE_MAXSIZE = "2G"

# in the package: see each one's first comment
LAUNCHER_SOURCES = ("kraftld_cc_launcher.c", "objects.c", "tables.c", "blake2b.c")
LAUNCHER_HEADERS = ("launcher.h",)  # part of the digest, not of the command
LAUNCHER_FLAGS = ("-O2", "-Wall", "-Werror", f'-DKRAFTLD_DEBUG_PREFIX="{DEBUG_PREFIX}"')


def plan_launcher(cache: str, compiler: str = "gcc") -> Compiled:
    """The launcher, compiled for the host once per cache."""
    sources = [package_source("launcher", name) for name in LAUNCHER_SOURCES]
    headers = [package_source("launcher", name) for name in LAUNCHER_HEADERS]
    output = CacheLayout(cache).launcher(digest_of([*sources, *headers], (compiler, *LAUNCHER_FLAGS)))
    command = Command((compiler, *LAUNCHER_FLAGS, "-o", output + ".tmp", *sources))
    return Compiled(output, command, "kraftld's compiler launcher", executable=True)


@dataclass(frozen=True)
class CompilerSetup:
    """The tools Unikraft's make compiles through behind kraftld's launcher, and the environment
    they add (kraftld-cc's compiles use them without the launcher)."""

    ccache: str | None  # the ccache program, or None
    distcc: str | None  # the distcc program, or None
    environ: tuple[tuple[str, str], ...]  # added to make's environment
    objects: str | None = None  # the launcher's object store (objects.py), or None
    kconfig_tools: str | None = None  # where Unikraft's kconfig tools are kept (kconfig_tools.py), or None

    def cc_variable(self, launcher: str, build_dir: str) -> str:
        """The CC= word for make: the launcher (`plan_launcher`'s output), then these tools."""
        words = [launcher, build_dir]
        if self.objects:
            words += [f"--objects={self.objects}", f"--config={CONFIG_HEADER}"]
        if self.ccache:
            words.append(self.ccache)
        elif self.distcc:
            words.append(self.distcc)
        words.append(COMPILER)
        return "CC=" + " ".join(words)


def compiler_setup(environ: Mapping[str, str], cache: str) -> CompilerSetup:
    ccache = _wanted_tool(environ, "KRAFTLD_CCACHE", "ccache")
    distcc = None
    if environ.get("DISTCC_HOSTS", "").strip():
        distcc = shutil.which("distcc", path=environ.get("PATH"))
        if distcc is None:
            raise ConfigError(
                "DISTCC_HOSTS is set but distcc is not installed",
                "install distcc (Debian: apt-get install distcc), or unset DISTCC_HOSTS",
            )
    added: dict[str, str] = {}
    if ccache:
        if not environ.get("CCACHE_DIR"):
            added["CCACHE_DIR"] = CacheLayout(cache).ccache
            if not environ.get("CCACHE_MAXSIZE"):
                added["CCACHE_MAXSIZE"] = DEFAULT_CCACHE_MAXSIZE
        if distcc and not environ.get("CCACHE_PREFIX"):
            added["CCACHE_PREFIX"] = distcc
    # The object store goes with a compiler cache: on unless KRAFTLD_CCACHE=0 (or KRAFTLD_OBJECTS=0).
    asked = environ.get("KRAFTLD_CCACHE")
    cached = asked is None or asked.strip().lower() not in NO_WORDS
    store = object_store(environ, cache, cached)
    # The kconfig tools too, beside it in ccache's folder (kconfig_tools.py says why there).
    tools = tools_store(ccache_folder(environ, cache)) if cached else None
    return CompilerSetup(ccache, distcc, tuple(sorted(added.items())), store, tools)


def _wanted_tool(environ: Mapping[str, str], variable: str, program: str) -> str | None:
    value = environ.get(variable)
    found = shutil.which(program, path=environ.get("PATH"))
    if value is None:
        return found
    word = value.strip().lower()
    if word in NO_WORDS:
        return None
    if word not in YES_WORDS:
        raise ConfigError(f"{variable}={value!r} is not a yes/no value", f"set {variable}=1 or {variable}=0")
    if found is None:
        raise ConfigError(
            f"{variable}={value} but {program} is not installed",
            f"install {program} (Debian: apt-get install {program}), or set {variable}=0",
        )
    return found
