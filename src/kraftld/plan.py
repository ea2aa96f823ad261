"""Turns a resolved link and a build configuration into a plan: folders, files and make commands.

Pure: it computes names and text, touching nothing, so a dry run prints exactly what a real run
would do. Every word handed to make is checked here, because make splits variables on white
space and expands `$`, and Unikraft runs its link command through a shell: inputs are given to
make as staged links with plain names, and any other word must be plain text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .ccache import CompilerSetup
from .commands import Command
from .compiled import Compiled
from .config import BuildConfig
from .downloads import MirrorFetch, plan_fetch
from .errors import ConfigError, UsageError
from .kconfig_tools import KconfigTools, plan_tools
from .layout import INPUTS_DIR, OUTPUTS_DIR, CacheLayout, EntryLayout
from .linkline import DriverFlag, LinkerOption, LinkerOutputFile
from .resolve import ResolvedLink, StagedFile
from .runtime import RuntimeObject
from .staging import staged_name

# Words that pass through make and a POSIX shell unchanged.
_PLAIN_WORD = re.compile(r"^[A-Za-z0-9_./,=+:@%-]+$")
# Folders make uses in targets and $(call …) arguments: no `:`, `%`, `,` or `=` either.
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9_./+@-]+$")

# The application Unikraft builds for kraftld (make's A=): a library of kraftld's boot parameters,
# shipped in the package. Unikraft writes A's real path into every build's configuration header
# (CONFIG_UK_APP), which every compile includes: one folder for all caches keeps that header, and so
# ccache's direct-mode hashes, the same for a configuration in every KRAFTLD_CACHE. (A folder in
# each cache entry made every such compile a direct-mode miss, served by ccache's slower
# preprocessor mode at 0.4x a compile.) Where the package's path is not plain enough for make, a
# copy in the entry serves (`plan_link(app_copy=…)`).
APP_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "unikraft_app")
APP_FILES = ("Makefile.uk", "Config.uk", "kraftld_params.c")


def app_folder_is_plain(folder: str = APP_FOLDER) -> bool:
    return bool(_PLAIN_PATH.match(folder))


@dataclass(frozen=True)
class StagedLink:
    """A link in the staging folder, with a plain name, pointing at a compiler input."""

    link: str
    target: str
    position: int = -1  # the index of its word on the link line, or -1 (found by -l, inside -Wl,)


@dataclass(frozen=True)
class LinkPlan:
    config: BuildConfig
    paths: EntryLayout  # the cache folder of this configuration, and what it holds
    app_files: tuple[tuple[str, str], ...]  # (path, text) written before make: an app copy
    staged: tuple[StagedLink, ...]
    # (where the linker writes it, where the user asked for it): files such as -Map's, written
    # under a plain name in the cache and copied out after the link.
    side_outputs: tuple[tuple[str, str], ...]
    # With a mirror (KRAFTLD_SOURCES): make's WGET, copying what the build downloads from its archives/
    mirror_fetch: MirrorFetch | None
    manifest: str
    ldflags: tuple[str, ...]
    ldeps: tuple[str, ...]
    defconfig_command: Command
    build_command: Command
    runtime: RuntimeObject
    output: str
    launcher: Compiled | None = None  # what make's CC runs (ccache.py), compiled before make starts
    object_store: str | None = None  # the launcher's object store (objects.py), made before make starts
    kconfig_tools: KconfigTools | None = None  # kept kconfig tools, placed before `make defconfig`

    @property
    def debug_output(self) -> str:
        return self.output + ".dbg"

    @property
    def entry(self) -> str:
        return self.paths.root

    @property
    def build_dir(self) -> str:
        return self.paths.build

    def relocated_path(self, path: str, link_dir: str) -> str:
        """A staged input's or side output's path as a fast relink in `link_dir` has it."""
        for folder, name in ((self.paths.inputs, INPUTS_DIR), (self.paths.outputs, OUTPUTS_DIR)):
            if path.startswith(folder + "/"):
                return os.path.join(link_dir, name, path[len(folder) + 1 :])
        return path

    def relocated_ldflags(self, link_dir: str) -> tuple[str, ...]:
        """UK_LDFLAGS with the staged files and side outputs in `link_dir` instead."""
        words = []
        for word in self.ldflags:
            prefix, sep, path = word.rpartition(",")
            words.append(prefix + sep + self.relocated_path(path, link_dir))
        return tuple(words)


@dataclass(frozen=True)
class MakeSetup:
    """How make is started: its base environment, and the jobserver or -j it uses."""

    environ: Mapping[str, str]
    jobs: int
    jobserver_flags: Mapping[str, str] | None = None
    pass_fds: tuple[int, ...] = ()


def check_plain_path(path: str, what: str, hint: str) -> None:
    if not _PLAIN_PATH.match(path):
        raise ConfigError(
            f"{what} has characters Unikraft's make cannot handle: {path!r}",
            hint,
        )


def plan_link(
    link: ResolvedLink,
    config: BuildConfig,
    cache: str,
    runtime: RuntimeObject,
    make: MakeSetup,
    app_copy: Mapping[str, str] | None = None,
    archives: str | None = None,
    compiler: CompilerSetup | None = None,
    launcher: Compiled | None = None,  # `ccache.plan_launcher`'s: needed with `compiler`
) -> LinkPlan:
    check_plain_path(
        cache, "the cache folder", "set KRAFTLD_CACHE to a folder whose path has only letters, digits and ./_-+@"
    )
    check_plain_path(
        config.unikraft.path,
        "the Unikraft tree's path",
        "move or link the tree to a path with only letters, digits and ./_-+@",
    )
    for library in config.libraries:
        check_plain_path(
            library.path,
            f"library {library.name}'s path",
            "move or link the library to a path with only letters, digits and ./_-+@",
        )

    paths = CacheLayout(cache).entry(config.key)

    staged: list[StagedLink] = []
    side_outputs: list[tuple[str, str]] = []
    ldflags: list[str] = list(runtime.link_flags)
    for item in link.items:
        if isinstance(item, StagedFile):
            stage = StagedLink(
                os.path.join(paths.inputs, staged_name(len(staged), item.path)), item.path, item.position
            )
            staged.append(stage)
            ldflags.append(f"-Wl,-T,{stage.link}" if item.as_script else stage.link)
        elif isinstance(item, LinkerOption):
            ldflags.extend(_linker_option_words(item.words))
        elif isinstance(item, LinkerOutputFile):
            written = os.path.join(paths.outputs, staged_name(len(side_outputs), item.path))
            side_outputs.append((written, item.path))
            ldflags.append(f"-Wl,{item.option},{written}")
        elif isinstance(item, DriverFlag):
            for word in item.args:
                _check_plain(word, " ".join(item.args))
            ldflags.extend(item.args)
    # Last, so its constructor is the last of .init_array (see kraftld_runtime.c).
    ldflags.append(runtime.object_path)

    ldeps = (*(s.link for s in staged), runtime.object_path, paths.manifest)

    make_vars = (
        f"A={APP_FOLDER if app_copy is None else paths.app}",
        f"O={paths.build}",
        f"C={paths.config}",
        f"N={config.name}",
    ) + ((f"L={':'.join(lib.path for lib in config.libraries)}",) if config.libraries else ())
    environ = dict(make.environ)
    if compiler is None:
        launcher = None
    else:  # Unikraft compiles through kraftld's launcher (and ccache): see ccache.py
        for tool in (compiler.ccache, compiler.distcc):
            if tool:
                check_plain_path(tool, f"{os.path.basename(tool)}'s path", "install it in a folder with a plain path")
        assert launcher is not None, "a compiler setup needs the launcher it runs behind"
        make_vars += (compiler.cc_variable(launcher.output, paths.build),)  # under the cache: plain
        environ.update(compiler.environ)
    pass_fds: tuple[int, ...] = ()
    jobs: tuple[str, ...] = (f"-j{make.jobs}",)
    if make.jobserver_flags is not None:
        environ.update(make.jobserver_flags)
        pass_fds = make.pass_fds
        jobs = ()
    base = ("make", "-C", config.unikraft.path, *make_vars)
    defconfig_command = Command((*base, f"UK_DEFCONFIG={paths.pending_defconfig}", "defconfig"), env=environ)
    # With a mirror, make downloads nothing: its WGET copies from the mirror (see downloads.py).
    mirror_fetch = plan_fetch(cache, archives, paths.missing_downloads) if archives else None
    wget = (mirror_fetch.wget_variable,) if mirror_fetch else ()
    build_command = Command(
        (*base, *jobs, *wget, f"UK_LDFLAGS={' '.join(ldflags)}", f"UK_LDEPS={' '.join(ldeps)}"),
        env=environ,
        pass_fds=pass_fds,
    )
    return LinkPlan(
        config=config,
        paths=paths,
        app_files=tuple((os.path.join(paths.app, name), text) for name, text in (app_copy or {}).items()),
        launcher=launcher,
        object_store=compiler.objects if compiler else None,
        kconfig_tools=(
            plan_tools(compiler.kconfig_tools, config.unikraft.path, paths.build, environ)
            if compiler and compiler.kconfig_tools
            else None
        ),
        staged=tuple(staged),
        side_outputs=tuple(side_outputs),
        mirror_fetch=mirror_fetch,
        manifest=_manifest(ldflags, staged),
        ldflags=tuple(ldflags),
        ldeps=ldeps,
        defconfig_command=defconfig_command,
        build_command=build_command,
        runtime=runtime,
        output=link.output,
    )


def _check_plain(word: str, shown: str) -> None:
    if not _PLAIN_WORD.match(word):
        raise UsageError(
            f"{shown!r} has characters that cannot pass safely through Unikraft's make and shell",
            "only input files may have such names (kraftld stages them); "
            "keep option values to letters, digits and ./_,=+:@%-",
        )


def _linker_option_words(words: tuple[str, ...]) -> list[str]:
    for word in words:
        _check_plain(word, " ".join(words))
    if any("," in word for word in words):
        # -Wl, would split the word at its comma; -Xlinker hands it over whole.
        return [part for word in words for part in ("-Xlinker", word)]
    return ["-Wl," + ",".join(words)]


def _manifest(ldflags: list[str], staged: list[StagedLink]) -> str:
    """What the final link reads, in order. make relinks when a listed file is newer than the
    image, but not when an input is dropped or swapped for an older file: the manifest is an
    input too (UK_LDEPS), rewritten only when its text changes, so any such change relinks."""
    lines = ["# kraftld link manifest: rewritten when the link changes, to make make relink"]
    lines += [f"flag {word}" for word in ldflags]
    lines += [f"input {s.link} -> {s.target}" for s in staged]
    return "\n".join(lines) + "\n"
