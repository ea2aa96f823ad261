"""What each available Unikraft library exports: core libraries' `exportsyms.uk`, and musl's table.

Unikraft's core libraries list their public symbols in `lib/<name>/exportsyms.uk` (a linker
version script's list: one name a line, `#` comments). lib-musl has no such list: its exports
are read once from the musl release it builds (the tarball it downloads, found in the offline
mirror's `archives/` or a previous build) — the sources lib-musl's `Makefile.uk.musl.*` compile,
scanned for the definitions musl's uniform style writes at the start of a line, `weak_alias`es
and assembly `.global`s — and cached by the tarball's and lib-musl's identity.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .layout import CacheLayout

CACHE_FORMAT = 2  # bumped when the scan or the cached form changes


@dataclass(frozen=True)
class CoreExports:
    """Core library folder name (`vfscore`, `posix-socket`) → the symbols its exportsyms.uk lists."""

    libraries: Mapping[str, frozenset[str]]

    def providers(self, symbol: str) -> list[str]:
        return sorted(name for name, symbols in self.libraries.items() if symbol in symbols)

    @property
    def all(self) -> frozenset[str]:
        return frozenset().union(*self.libraries.values()) if self.libraries else frozenset()


def parse_exportsyms(text: str) -> frozenset[str]:
    names = set()
    for line in text.splitlines():
        word = line.split("#", 1)[0].strip()
        if word:
            names.add(word)
    return frozenset(names)


def core_exports(unikraft: str) -> CoreExports:
    libraries: dict[str, frozenset[str]] = {}
    for path in sorted(glob.glob(os.path.join(unikraft, "lib", "*", "exportsyms.uk"))):
        with open(path, encoding="utf-8", errors="replace") as handle:
            libraries[os.path.basename(os.path.dirname(path))] = parse_exportsyms(handle.read())
    return CoreExports(libraries)


# lib-musl's source lists: `LIBMUSL_<GROUP>_SRCS-y += $(LIBMUSL)/src/…` (musl's own files) and
# `LIBMUSLGLUE_SRCS-y += $(LIBMUSL_BASE)/….c` (lib-musl's glue).
_SOURCE_LINE = re.compile(r"^\s*LIBMUSL\w*_SRCS-\S*\s*\+=\s*\$\((LIBMUSL|LIBMUSL_BASE)\)/(\S+)", re.MULTILINE)
# musl's definitions start a line: `int socket(int domain, int type, int protocol)\n{`, with the
# return type on a line of its own (`int\nregcomp(…)`), or the name in parentheses to step over a
# macro of the same name (`int (getc_unlocked)(FILE *f)`).
_NOT_A_DEFINITION = r"(?!static\b|typedef\b|extern\b|struct\s+\w+\s*\{|union\b|enum\b|#|return\b|if\b|else\b)"
_FUNCTION = re.compile(
    r"^" + _NOT_A_DEFINITION + r"(?:[A-Za-z_][\w \t\*]*?[\s\*])?\(?([A-Za-z_]\w*)\)?\s*\(([^;{}]*?)\)\s*"
    r"(?:__attribute__\s*\(\([^;{}]*\)\)\s*)?\{",
    re.MULTILINE | re.DOTALL,
)
# A function returning a function pointer: `void (*signal(int sig, void (*func)(int)))(int)`.
_FUNCTION_POINTER = re.compile(r"^" + _NOT_A_DEFINITION + r"[A-Za-z_][\w \t\*]*\(\s*\*\s*(\w+)\s*\(", re.MULTILINE)
# Objects with a braced initialiser: `hidden FILE __stdout_FILE = {`, `char *__tzname[2] = { 0, 0 };`.
_INITIALISED = re.compile(
    r"^" + _NOT_A_DEFINITION + r"[A-Za-z_][\w \t\*]*?[\s\*]([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*=\s*\{", re.MULTILINE
)
_ALIAS = re.compile(r"\b(?:weak_alias|strong_alias)\s*\(\s*\w+\s*,\s*(\w+)\s*\)")
# Objects at the start of a line: `char **__environ = 0;`, `int optind=1, opterr=1, optopt;`.
_OBJECT = re.compile(
    r"^(?!static\b|typedef\b|extern\b|#|return\b|struct\s+\w*\s*\{|union\b|enum\b)"
    r"(?:const\s+|volatile\s+)*(?:struct\s+)?[A-Za-z_]\w*(?:[ \t\*]+(?:const\b|volatile\b)?)+([^;(){}]*);",
    re.MULTILINE,
)
_ASM_GLOBAL = re.compile(r"^\s*\.glob(?:a)?l\s+(\w+)", re.MULTILINE)


def scan_c(text: str) -> set[str]:
    """The external names a musl C source defines (a superset is harmless: names are only matched)."""
    names = {m.group(1) for m in _FUNCTION.finditer(text)}
    names.update(_FUNCTION_POINTER.findall(text))
    names.update(_INITIALISED.findall(text))
    names.update(_ALIAS.findall(text))
    for match in _OBJECT.finditer(text):
        for declarator in _split_declarators(match.group(1)):
            names.add(declarator)
    return {n for n in names if n not in _C_WORDS}


def scan_asm(text: str) -> set[str]:
    return set(_ASM_GLOBAL.findall(text))


_C_WORDS = frozenset({"if", "while", "for", "switch", "sizeof", "return", "else", "do", "case", "default"})
_DECLARATOR = re.compile(r"^[\s\*]*(?:const\s+)?([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*(?:=.*)?$", re.DOTALL)


def _split_declarators(text: str) -> list[str]:
    # Commas inside an initialiser's braces or parentheses do not separate declarators; such
    # initialisers are rare at file level in musl, and a missed name costs only precision.
    names = []
    depth = 0
    part = ""
    parts = []
    for char in text:
        depth += char in "{(["
        depth -= char in "})]"
        if char == "," and depth == 0:
            parts.append(part)
            part = ""
        else:
            part += char
    parts.append(part)
    for piece in parts:
        match = _DECLARATOR.match(piece.strip())
        if match:
            names.append(match.group(1))
    return names


def musl_sources(lib_musl: str) -> tuple[list[str], list[str]]:
    """(paths inside the musl release, paths inside lib-musl) that lib-musl compiles."""
    inside_release: list[str] = []
    glue: list[str] = []
    for path in sorted([*glob.glob(os.path.join(lib_musl, "Makefile.uk*")), os.path.join(lib_musl, "Makefile.rules")]):
        with contextlib.suppress(OSError), open(path, encoding="utf-8", errors="replace") as handle:
            for variable, relative in _SOURCE_LINE.findall(handle.read()):
                relative = relative.split("|", 1)[0]  # `file.c|suffix` names a variant of a file
                (inside_release if variable == "LIBMUSL" else glue).append(relative.lstrip("/"))
    return inside_release, glue


def find_musl_tarball(lib_musl: str, sources: str | None, cache: str) -> str | None:
    """The musl release lib-musl builds: in the mirror's archives, or downloaded by a previous build."""
    version = _musl_version(lib_musl)
    if version is None:
        return None
    name = f"musl-{version}.tar.gz"
    candidates = [os.path.join(sources, "archives", name)] if sources else []
    candidates += sorted(glob.glob(os.path.join(CacheLayout(cache).builds, "*", "build", "libmusl", name)))
    return next((c for c in candidates if os.path.isfile(c)), None)


def _musl_version(lib_musl: str) -> str | None:
    try:
        with open(os.path.join(lib_musl, "Makefile.uk"), encoding="utf-8", errors="replace") as handle:
            match = re.search(r"^LIBMUSL_VERSION\s*:?=\s*(\S+)", handle.read(), re.MULTILINE)
    except OSError:
        return None
    return match.group(1) if match else None


def musl_exports(lib_musl: str, tarball: str, cache: str | None) -> frozenset[str]:
    """musl's exported names, read from the release once and then cached."""
    where = _musl_cache_file(lib_musl, tarball, cache)
    if where is not None:
        with contextlib.suppress(OSError, ValueError), open(where, encoding="utf-8") as handle:
            return frozenset(json.load(handle))
    names = _scan_release(lib_musl, tarball)
    if where is not None:
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(where), exist_ok=True)
            temporary = f"{where}.{os.getpid()}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(sorted(names), handle)
            os.replace(temporary, where)
    return names


def _musl_cache_file(lib_musl: str, tarball: str, cache: str | None) -> str | None:
    if cache is None:
        return None
    digest = hashlib.sha256(str(CACHE_FORMAT).encode())
    for path in [tarball, *sorted(glob.glob(os.path.join(lib_musl, "Makefile.uk*")))]:
        try:
            info = os.stat(path)
        except OSError:
            return None
        digest.update(f"\0{info.st_size}\0{info.st_mtime_ns}\0".encode() + os.fsencode(os.path.realpath(path)))
    return CacheLayout(cache).symbol_table(f"musl-{digest.hexdigest()[:24]}")


def _scan_release(lib_musl: str, tarball: str) -> frozenset[str]:
    import tarfile  # imported here: only the first link that needs musl's table reads the release

    inside_release, glue = musl_sources(lib_musl)
    wanted = set(inside_release)
    names: set[str] = set()
    with tarfile.open(tarball, "r:gz") as archive:
        for info in archive:
            if not info.isfile():
                continue
            relative = info.name.split("/", 1)[1] if "/" in info.name else info.name
            if relative not in wanted:
                continue
            handle = archive.extractfile(info)
            if handle is None:
                continue
            text = handle.read().decode("utf-8", errors="replace")
            names |= scan_asm(text) if relative.endswith((".s", ".S")) else scan_c(text)
    for relative in glue:
        with (
            contextlib.suppress(OSError),
            open(os.path.join(lib_musl, relative), encoding="utf-8", errors="replace") as f,
        ):
            names |= scan_c(f.read())
    return frozenset(names)


def linker_defined_names(unikraft: str) -> frozenset[str]:
    """Names Unikraft's linker scripts define (`__init_array_start = .;`, `PROVIDE(_end = .)`)."""
    names: set[str] = set()
    assignment = re.compile(r"(?:PROVIDE(?:_HIDDEN)?\s*\(\s*)?\b([A-Za-z_][\w.]*)\s*=[^=]")
    patterns = ("**/*.ld", "**/*.lds", "**/*.lds.S")  # a walk of the whole tree: see unikraft_offers
    for pattern in patterns:
        for path in glob.glob(os.path.join(unikraft, pattern), recursive=True):
            with open(path, encoding="utf-8", errors="replace") as handle:
                names.update(assignment.findall(handle.read()))
    return frozenset(names)


def unikraft_offers(unikraft: str, commit: str | None, cache: str | None) -> tuple[CoreExports, frozenset[str]]:
    """The core libraries' exports and the linker scripts' names, cached by the tree's commit
    (walking the tree for its linker scripts takes longer than a small program's relink)."""
    where = None
    if cache is not None and commit is not None:
        key = hashlib.sha256(f"{CACHE_FORMAT}\0{commit}\0".encode() + os.fsencode(os.path.realpath(unikraft)))
        where = CacheLayout(cache).symbol_table(f"unikraft-{key.hexdigest()[:24]}")
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError), open(where, encoding="utf-8") as handle:
            data = json.load(handle)
            libraries = {name: frozenset(names) for name, names in data["core"].items()}
            return CoreExports(libraries), frozenset(data["linker"])
    core = core_exports(unikraft)
    linker = linker_defined_names(unikraft)
    if where is not None:
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(where), exist_ok=True)
            temporary = f"{where}.{os.getpid()}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump({"core": {k: sorted(v) for k, v in core.libraries.items()}, "linker": sorted(linker)}, handle)
            os.replace(temporary, where)
    return core, linker
