"""The compile flags of a configured Unikraft build, read from the compile line make recorded for
kraftld's own application object, filtered by a table of what a user's compile keeps and why.

Unikraft compiles every application source with one line: its global includes (Unikraft's
headers and the chosen libc's — lib-musl's or nolibc's), its target flags (`-m64 -mno-red-zone`,
`-fno-PIC`, `-fno-stack-protector` unless the build has a stack protector) and its defines
(`__Unikraft__`, `-U __linux__`). kraftld's generated application (`appkraftld`, see plan.py) is
compiled that way, and make writes the exact command to `build/appkraftld/kraftld_params.o.cmd`:
that file, not a guess at Unikraft's Makefiles, is the source of truth, so a Kraftfile's
options (a stack protector, another optimisation level's flags) reach the user's objects too.

Include folders become `-isystem` (searched after the user's own `-I`, as a sysroot's are, and
exempt from warnings as system headers are); gcc's own freestanding headers (stddef.h, stdarg.h,
stdatomic.h, cpuid.h…) come last, since Unikraft compiles with `-nostdinc`.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import BuildError

# The object whose recorded compile line kraftld-cc reads, relative to the build folder.
RECORDED_OBJECT = os.path.join("appkraftld", "kraftld_params.o.cmd")


@dataclass(frozen=True)
class Rule:
    prefix: str
    keep: bool
    separate: bool  # the value may be the next word (`-D X`, `-U X`, `-I dir`)
    why: str


# First matching prefix wins; a word no row matches is dropped (and shown by `kraftld-cc -v`).
RULES: tuple[Rule, ...] = (
    Rule("-I", True, True, "Unikraft's and the libc's headers: given as -isystem, after the user's own -I"),
    Rule("-isystem", True, True, "system headers of the build"),
    Rule("-include", True, True, "a header every Unikraft source includes"),
    Rule("-D__LIBNAME__=", False, False, "names kraftld's application library, not the user's"),
    Rule("-D__BASENAME__=", False, False, "names kraftld's own source file"),
    Rule("-DUK_LIBPARAM_LIBPREFIX=", False, False, "the boot-parameter prefix of kraftld's application library"),
    Rule("-D", True, True, "Unikraft's defines (__Unikraft__, the version, the architecture, libc options)"),
    Rule("-U", True, True, "Unikraft undefines the host's system macros (__linux__…): the code is not for Linux"),
    Rule("-nostdinc", True, False, "the host's (glibc's) headers must not be found: the unikernel has its own libc"),
    Rule("-m", True, False, "the target's code model: -m64 -mno-red-zone (interrupts use the same stack)…"),
    Rule("-f", True, False, "code generation Unikraft's objects share: -fno-PIC, no stack protector, …"),
    Rule("-O", False, False, "the optimisation level is the user's choice, as with gcc"),
    Rule("-g", False, False, "debug information is the user's choice, as with gcc"),
    Rule("-W", False, False, "warnings are the user's choice (and -Wp,-MD is make's dependency file)"),
    Rule("-nostdlib", False, False, "a link option"),
    Rule("-c", False, False, "the mode is the user's"),
    Rule("-o", False, True, "the output is the user's"),
)


@dataclass(frozen=True)
class BuildFlags:
    """What a compile for this build adds to the user's line: flags before it, includes after."""

    flags: tuple[str, ...]
    includes: tuple[str, ...]  # -isystem DIR pairs, the compiler's own include folder last
    source: str  # the .cmd file they came from
    dropped: tuple[str, ...] = ()
    digest: str = ""  # the digest of that file's text (`text_digest`), for kraftld-cc's note


def compiler_words(command: str) -> list[str]:
    """The compiler's arguments in a recorded line: after the launcher, ccache and gcc (the first
    word that is an option), up to the source's."""
    words = shlex.split(command)
    start = next((i for i, word in enumerate(words) if word.startswith("-")), len(words))
    end = words.index("-c", start) if "-c" in words[start:] else len(words)
    return words[start:end]


def filter_flags(words: Sequence[str], compiler_include: str | None) -> BuildFlags:
    """Apply `RULES` to a recorded compile's arguments; raises BuildError when nothing usable is there."""
    flags: list[str] = []
    includes: list[str] = []
    dropped: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        rule = next((r for r in RULES if word.startswith(r.prefix)), None)
        takes_next = rule is not None and rule.separate and word == rule.prefix and i + 1 < len(words)
        value = words[i + 1] if takes_next else None
        i += 2 if takes_next else 1
        if rule is None or not rule.keep:
            dropped.append(word if value is None else f"{word} {value}")
            continue
        if rule.prefix in ("-I", "-isystem"):
            folder = value if value is not None else word[len(rule.prefix) :]
            includes += ["-isystem", folder]
        elif rule.prefix == "-D" and value is not None and value.startswith(("__LIBNAME__=", "__BASENAME__=")):
            dropped.append(f"{word} {value}")
        else:
            flags += [word] if value is None else [word, value]
    if not includes:
        raise BuildError(
            "the build's recorded compile line names no include folders",
            "remove the build from kraftld's cache (`KRAFTLD_CACHE_MAX=1 kraftld --prune-cache`) and retry",
        )
    if compiler_include:
        includes += ["-isystem", compiler_include]
    return BuildFlags(tuple(flags), tuple(includes), "", tuple(dropped))


def read_build_flags(build_dir: str, compiler_include: str | None) -> BuildFlags | None:
    """The flags of the build in `build_dir`, or None when it has not compiled kraftld's object yet."""
    path = os.path.join(build_dir, RECORDED_OBJECT)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    words = compiler_words(data.decode("utf-8"))
    found = filter_flags(words, compiler_include)
    return BuildFlags(found.flags, found.includes, path, found.dropped, text_digest(data))


def text_digest(data: bytes) -> str:
    """The digest of a recorded compile line's file (whether a note's flags still hold)."""
    return hashlib.sha256(data).hexdigest()
