"""Classifies a gcc command line for kraftld-cc: what it asks for, its inputs in order, and which
options belong to compiling, to linking, or to both — by gcc's option table (`flags.GCC_OPTIONS`),
the one kraftld's link reads too, each row with its phase and its why.

Pure: nothing here touches the file system. gcc decides what a line does from its mode flags
(`-c`, `-S`, `-E`, `-M`/`-MM`) and from its inputs' names; kraftld-cc does the same, because
configure scripts and Makefiles rely on gcc's rules: `cc -c x.c` writes `x.o`, `cc x.c -o prog`
compiles and links, `cc -E` preprocesses to stdout, `cc -MM x.c` prints dependencies.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from ..errors import UsageError
from ..flags import GCC_OPTIONS, Form, GccOption, Phase


class Mode(Enum):
    """What the line produces, from gcc's mode flags (the last stage asked for wins, as in gcc)."""

    LINK = "link"  # no mode flag: compile the sources, then link everything into an image
    COMPILE = "compile"  # -c: one object per source
    ASSEMBLY = "assembly"  # -S: one .s per source
    PREPROCESS = "preprocess"  # -E, or -M/-MM without -MD: preprocessed text or dependencies
    QUERY = "query"  # no inputs: --version, -dumpmachine, -print-*…, answered by gcc itself


# gcc's options come from the one table both of kraftld's sides read (flags.GCC_OPTIONS), each row
# with its phase and its why: matched longest name first, "-MF" before "-M", "-Wl," before "-W".
# An option not in the table goes to both steps: gcc judges it when compiling, kraftld when linking.
_BY_LENGTH = sorted(GCC_OPTIONS, key=lambda o: len(o.name), reverse=True)
_MODES = {"-c": Mode.COMPILE, "-S": Mode.ASSEMBLY, "-E": Mode.PREPROCESS}
# gcc's order of stages: the earliest stage asked for is where gcc stops.
_STAGE = {Mode.PREPROCESS: 0, Mode.ASSEMBLY: 1, Mode.COMPILE: 2, Mode.LINK: 3}
# Asked of gcc itself, with or without inputs: these print and do nothing else.
QUERY_PREFIXES = ("--version", "-dumpversion", "-dumpfullversion", "-dumpmachine", "-dumpspecs", "-print-", "--help")

# Input names gcc compiles (by its own suffix rules); any other input goes to the link.
SOURCE_SUFFIXES = frozenset({".c", ".i", ".s", ".S", ".sx", ".h"})
# C++ by gcc's suffix rules (and -x c++): refused, since no C++ library is configured (README's
# "kraftld-cc" section: Unikraft's lib-libcxx, lib-libcxxabi and lib-libunwind would be needed).
CXX_SUFFIXES = frozenset({".cc", ".cp", ".cxx", ".cpp", ".CPP", ".c++", ".C", ".ii", ".hh", ".hpp", ".hxx", ".H"})
CXX_LANGUAGES = frozenset({"c++", "c++-header", "c++-cpp-output"})
# -x languages whose inputs are compiled: anything but `none` (back to suffixes) and gcc's
# "object" languages, which only the link reads.
_LINK_LANGUAGES = frozenset({"none"})


@dataclass(frozen=True)
class Word:
    """One argument (or an option with its separate value), in the line's order."""

    args: tuple[str, ...]
    phase: Phase


@dataclass(frozen=True)
class Source:
    """An input gcc compiles: its path (or `-` for stdin) and the -x language in force, if any."""

    path: str
    language: str | None = None


@dataclass(frozen=True)
class Invocation:
    """A gcc line, classified. `words` keeps every argument in order; sources and link inputs are
    words too (phase COMPILE for a source, LINK for an object or archive)."""

    mode: Mode
    words: tuple[Word, ...]
    sources: tuple[Source, ...]
    output: str | None
    dependencies_only: bool = False  # -M/-MM without -MD/-MMD: gcc writes dependencies, no object
    link_inputs: tuple[str, ...] = field(default=())

    def compile_args(self) -> list[str]:
        """The options of one source's compile, in order: without inputs, -o and -x (each source's
        language is given with it, see `source_args`)."""
        out: list[str] = []
        for word in self.words:
            if (
                word.phase is not Phase.LINK
                and word.args[0] not in ("-o", "-x")
                and not word.args[0].startswith(("-o", "-x"))  # joined: -oFILE, -xc
                and not _is_input(word)
            ):
                out.extend(word.args)
        return out

    def gcc_line(self) -> list[str]:
        """The line as gcc compiles or preprocesses it: everything but what only the link reads,
        the inputs in place (so -x applies as the user wrote it)."""
        out: list[str] = []
        for word in self.words:
            if _is_input(word):
                if word.phase is Phase.COMPILE:
                    out.append(word.args[1])
            elif word.phase is not Phase.LINK:
                out.extend(word.args)
        return out


def _is_input(word: Word) -> bool:
    return word.args[0] == _INPUT


_INPUT = "\0input"  # marks an input word; its path is args[1]


def _match(arg: str) -> GccOption | None:
    for option in _BY_LENGTH:
        if option.form is Form.FLAG or option.form is Form.SEPARATE:
            if arg == option.name:
                return option
        elif arg.startswith(option.name):
            return option
    return None


def is_cxx(path: str, language: str | None) -> bool:
    if language is not None and language != "none":
        return language in CXX_LANGUAGES
    return os.path.splitext(path)[1] in CXX_SUFFIXES


def is_source(path: str, language: str | None) -> bool:
    if language is not None and language not in _LINK_LANGUAGES:
        return True
    return path == "-" or os.path.splitext(path)[1] in SOURCE_SUFFIXES


def classify(argv: Sequence[str]) -> Invocation:
    """The line's mode, words, sources and output. Raises UsageError for an option missing its value."""
    words: list[Word] = []
    sources: list[Source] = []
    link_inputs: list[str] = []
    output: str | None = None
    modes: list[Mode] = []
    language: str | None = None
    deps_only = False
    writes_deps = False
    query = False
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _MODES:
            modes.append(_MODES[arg])  # the word itself is judged by its row below: the compile's
        if arg == "-" or not arg.startswith("-") or arg == "":
            if is_cxx(arg, language):
                raise UsageError(
                    f"{arg} is C++: kraftld-cc compiles C only",
                    "a C++ program needs Unikraft's lib-libcxx, lib-libcxxabi and lib-libunwind, which kraftld "
                    "does not configure (see README's kraftld-cc section); compile the project's C parts",
                )
            if is_source(arg, language):
                sources.append(Source(arg, language))
                words.append(Word((_INPUT, arg), Phase.COMPILE))
            else:
                link_inputs.append(arg)
                words.append(Word((_INPUT, arg), Phase.LINK))
            i += 1
            continue
        if arg.startswith(QUERY_PREFIXES):
            query = True
        option = _match(arg)
        if option is None:
            words.append(Word((arg,), Phase.BOTH))
            i += 1
            continue
        value: str | None
        if option.form is Form.SEPARATE or (option.form is Form.JOINED_OR_SEPARATE and arg == option.name):
            if i + 1 >= len(args):
                raise UsageError(f"{arg} needs a value after it", f"give {arg} its value, as gcc expects")
            value = args[i + 1]
            words.append(Word((arg, value), option.phase))
            i += 2
        else:
            value = arg[len(option.name) :] if option.form is not Form.FLAG else None
            words.append(Word((arg,), option.phase))
            i += 1
        if option.name == "-o":
            output = value
        elif option.name == "-x":
            language = value
        elif option.name in ("-M", "-MM"):
            deps_only = True
        elif option.name in ("-MD", "-MMD"):
            writes_deps = True
    if deps_only and not writes_deps:
        modes.append(Mode.PREPROCESS)
    if query and not sources and not link_inputs:
        mode = Mode.QUERY
    elif modes:
        mode = min(modes, key=_STAGE.__getitem__)
    elif not sources and not link_inputs:
        mode = Mode.QUERY  # `cc -v`, or nothing at all: gcc answers (or says "no input files")
    else:
        mode = Mode.LINK
    return Invocation(
        mode,
        tuple(words),
        tuple(sources),
        output,
        dependencies_only=deps_only and not writes_deps,
        link_inputs=tuple(link_inputs),
    )


def source_args(source: Source) -> list[str]:
    """A source as one compile names it: with its -x language, if one was in force."""
    return ["-x", source.language, source.path] if source.language else [source.path]


def object_name(source: str) -> str:
    """The object gcc's `-c` writes for a source without -o: its base name with `.o`."""
    return os.path.splitext(os.path.basename(source))[0] + ".o"


def link_line(invocation: Invocation, objects: Sequence[str]) -> list[str]:
    """The line kraftld links: every word but the compile-only ones, each source replaced by its
    object (`objects`, in the sources' order), so the inputs keep the line's order."""
    compiled = iter(objects)
    out: list[str] = []
    for word in invocation.words:
        if _is_input(word):
            out.append(next(compiled) if word.phase is Phase.COMPILE else word.args[1])
        elif word.phase is not Phase.COMPILE:
            out.extend(word.args)
    return out
