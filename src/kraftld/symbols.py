"""Reads which symbols a link really needs from outside its inputs, as GNU ld would decide it.

Each object is read with pyelftools (archives are unpacked with binutils' `ar`): its sections,
the global symbols each defines, and what each section's relocations refer to. Then, as ld
does, archive members are pulled in for the symbols still undefined, and — when the line asks
for `--gc-sections`, as rustc's always does — only what is reachable from `main`, the
constructors and the sections Unikraft's linker scripts keep counts: a std program's objects
mention sockets and files whether or not it uses them, and only the reachable mentions are
what it needs. What a file holds is cached by its identity (path, size, modification time),
so the large rlibs of a Rust toolchain are read once.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .commands import Command, describe_failure
from .errors import InputError
from .layout import CacheLayout

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from typing import BinaryIO

    from .commands import ProcessRunner

# Bumped when the cached form of a file's symbols changes.
CACHE_FORMAT = 3
SHF_ALLOC = 0x2
SHF_GNU_RETAIN = 0x200000  # `__attribute__((retain))`: ld keeps it under --gc-sections
# Sections ld keeps under --gc-sections whatever refers to them: those Unikraft's and the
# platform's linker scripts KEEP (constructors, init tables, boot data), and notes. .eh_frame is
# kept too, but ld does not follow its references (it would keep every function otherwise).
KEPT_SECTIONS = (
    ".init_array*",
    ".fini_array*",
    ".preinit_array*",
    ".ctors*",
    ".dtors*",
    ".uk_*",
    ".posix_socket_driver_*",
    ".data.boot*",
    ".note*",
    ".gcov_info",
)
ROOT_SYMBOLS = ("main",)  # what Unikraft's boot code calls in the application


@dataclass(frozen=True)
class Member:
    """One object: a file on the line or an archive member (`name` is then `archive(member)`).

    `defines` maps each global symbol to the index of the section holding it (-1: no section,
    as for common and absolute symbols); `edges` maps a section index to the sections of the
    same object and the external names its relocations refer to.
    """

    name: str
    defines: dict[str, int]
    undefined: frozenset[str]  # strong references only: weak ones never fail a link
    kept: tuple[int, ...]  # sections kept whatever refers to them
    edges: dict[int, tuple[tuple[int, ...], tuple[str, ...]]]

    @property
    def defined(self) -> frozenset[str]:
        return frozenset(self.defines)


@dataclass(frozen=True)
class InputSymbols:
    """A file on the link line: an object (one member) or an archive (its members, in order)."""

    path: str
    shown: str  # as the link line named it
    archive: bool
    members: tuple[Member, ...]


@dataclass(frozen=True)
class Needed:
    """What the link asks of Unikraft: each symbol no input defines, with the objects needing it."""

    symbols: dict[str, tuple[str, ...]]  # symbol → names of the objects that reference it
    pulled: tuple[str, ...]  # the archive members the link pulls in, in order

    def by_input(self, symbols: Iterable[str]) -> dict[str, list[str]]:
        """The given symbols grouped by the object that needs them (its first such object)."""
        grouped: dict[str, list[str]] = {}
        for symbol in sorted(symbols):
            users = self.symbols.get(symbol, ())
            grouped.setdefault(users[0] if users else "(unknown)", []).append(symbol)
        return grouped


def read_elf(handle: BinaryIO, name: str) -> Member:
    """One relocatable ELF object's symbols, kept sections and references."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.relocation import RelocationSection
    from elftools.elf.sections import SymbolTableSection

    elf = ELFFile(handle)
    table = next((s for s in elf.iter_sections() if isinstance(s, SymbolTableSection)), None)
    symbols = list(table.iter_symbols()) if table is not None else []
    defines: dict[str, int] = {}
    undefined: set[str] = set()
    places: list[int | None] = []  # per symbol: its section, -1 for no section, None if undefined
    for symbol in symbols:
        index = symbol["st_shndx"]
        bind = symbol["st_info"]["bind"]
        place = index if isinstance(index, int) else (None if index == "SHN_UNDEF" else -1)
        places.append(place)
        if bind == "STB_LOCAL" or not symbol.name:
            continue
        if place is None:
            if bind != "STB_WEAK":
                undefined.add(symbol.name)
        else:
            defines.setdefault(symbol.name, place)
    kept: list[int] = []
    for index, section in enumerate(elf.iter_sections()):
        flags = section["sh_flags"]
        if flags & SHF_ALLOC and (
            flags & SHF_GNU_RETAIN or any(fnmatch.fnmatchcase(section.name, p) for p in KEPT_SECTIONS)
        ):
            kept.append(index)
    edges: dict[int, tuple[tuple[int, ...], tuple[str, ...]]] = {}
    for section in elf.iter_sections():
        if not isinstance(section, RelocationSection):
            continue
        target = section["sh_info"]
        if not elf.get_section(target)["sh_flags"] & SHF_ALLOC:
            continue  # debug information refers to everything and keeps nothing
        local: set[int] = set()
        external: set[str] = set()
        for relocation in section.iter_relocations():
            number = relocation["r_info_sym"]
            if number == 0 or number >= len(symbols):
                continue
            place = places[number]
            if place is None:
                external.add(symbols[number].name)
            elif place >= 0:
                local.add(place)
        before = edges.get(target, ((), ()))
        edges[target] = (tuple(sorted(local | set(before[0]))), tuple(sorted(external | set(before[1]))))
    return Member(name, defines, frozenset(undefined - defines.keys()), tuple(kept), edges)


def read_file_symbols(path: str, shown: str, archive: bool, cache: str | None, runner: ProcessRunner) -> InputSymbols:
    where = None if cache is None else _cache_file(path, cache)
    identity = _identity(path)  # taken before reading: a file changed meanwhile is read again next time
    members = _cached(where, identity)
    if members is None:
        members = _read_archive(path, runner) if archive else (read_object(path, os.path.basename(path)),)
        _store(where, identity, members)
    return InputSymbols(path, shown, archive, members)


def read_object(path: str, name: str) -> Member:
    from elftools.common.exceptions import ELFError

    try:
        with open(path, "rb") as handle:
            return read_elf(handle, name)
    except (ELFError, OSError, ValueError) as error:
        raise InputError(
            f"cannot read the symbols of {name}: {error}", "check that it is an x86_64 ELF object"
        ) from None


def _read_archive(path: str, runner: ProcessRunner) -> tuple[Member, ...]:
    """An archive's ELF members in order (an rlib's `lib.rmeta` and other non-ELF members skipped)."""
    import shutil  # imported here, as tempfile: a relink whose inputs are all cached needs neither
    import tempfile

    shown = os.path.basename(path)
    folder = tempfile.mkdtemp(prefix="kraftld-ar-")
    try:
        with open(path, "rb") as handle:
            thin = handle.read(8) == b"!<thin>\n"
        names = _listing(path, folder, runner, thin)
        members = []
        for name, member_path in names:
            with open(member_path, "rb") as handle:
                if handle.read(4) != b"\x7fELF":
                    continue
            members.append(read_object(member_path, f"{shown}({name})"))
        return tuple(members)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _listing(path: str, folder: str, runner: ProcessRunner, thin: bool) -> list[tuple[str, str]]:
    """(member name, where its bytes are) for each member, in the archive's order."""
    # `ar t`'s output is read from a file: the runner keeps only the tail of what it captures.
    listing = os.path.join(folder, "members.txt")
    with open(listing, "w+", encoding="utf-8") as log_file:
        completed = runner(Command(("ar", "t", os.path.abspath(path))), log_file=log_file)
    with open(listing, encoding="utf-8", errors="surrogateescape") as handle:
        names = [line.rstrip("\n") for line in handle if line.strip()]
    if completed.returncode != 0:
        raise InputError(
            f"ar cannot list {os.path.basename(path)}", "check the archive", details=describe_failure(completed)
        )
    if thin:  # a thin archive names its members' files, relative to the archive's folder
        return [(name, os.path.join(os.path.dirname(os.path.abspath(path)), name)) for name in names]
    extracted = os.path.join(folder, "members")
    os.mkdir(extracted)
    completed = runner(Command(("ar", "x", os.path.abspath(path)), cwd=extracted))
    if completed.returncode != 0:
        raise InputError(
            f"ar cannot unpack {os.path.basename(path)}", "check the archive", details=describe_failure(completed)
        )
    # Two members of one name: `ar x` keeps the last; both names then read that one's symbols.
    return [(name, os.path.join(extracted, os.path.basename(name))) for name in names]


def _identity(path: str) -> str | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return f"{CACHE_FORMAT}:{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"


def _cache_file(path: str, cache: str) -> str:
    # One entry per path, holding the identity of the file it was read from: a rebuilt object
    # replaces its entry instead of adding one at every build.
    digest = hashlib.sha256(os.fsencode(os.path.realpath(path))).hexdigest()[:24]
    return CacheLayout(cache).symbol_table(digest)


def _cached(where: str | None, identity: str | None) -> tuple[Member, ...] | None:
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


def _store(where: str | None, identity: str | None, members: tuple[Member, ...]) -> None:
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


def resolve_needed(
    inputs: Sequence[InputSymbols], provided: Iterable[str] = (), *, gc_sections: bool = False
) -> Needed:
    """The symbols the link needs from outside its inputs.

    Objects are always linked; an archive member is pulled in when it defines a symbol still
    undefined (the first member in line order that does, as ld takes it). Unlike ld, which
    scans each archive once in line order, archives are searched as one big --start-group: a
    line whose order ld would refuse fails the link anyway. With `gc_sections`, only references
    from sections reachable from `main` and the kept sections count. `provided` names symbols
    defined outside the inputs (kraftld's runtime object), which pull nothing.
    """
    outside = set(provided)
    members = _linked_members(inputs, outside)
    definitions: dict[str, tuple[Member, int]] = {}
    for member in members:
        for symbol, section in member.defines.items():
            definitions.setdefault(symbol, (member, section))
    users: dict[str, list[str]] = {}
    if not gc_sections:
        for member in members:
            for symbol in member.undefined:
                if symbol not in definitions and symbol not in outside:
                    users.setdefault(symbol, []).append(member.name)
    else:
        _reachable_needs(members, definitions, outside, users)
    pulled = tuple(m.name for m in members if "(" in m.name)
    return Needed({symbol: tuple(names) for symbol, names in users.items()}, pulled)


def _linked_members(inputs: Sequence[InputSymbols], outside: set[str]) -> list[Member]:
    linked: list[Member] = []
    defined: set[str] = set(outside)
    pending: list[str] = []

    def add(member: Member) -> None:
        linked.append(member)
        defined.update(member.defines)
        pending.extend(member.undefined)

    definers: dict[str, Member] = {}
    for item in inputs:
        for member in item.members:
            if item.archive:
                for symbol in member.defines:
                    definers.setdefault(symbol, member)
            else:
                add(member)
    taken: set[int] = set()
    while pending:
        symbol = pending.pop()
        if symbol in defined:
            continue
        definer = definers.get(symbol)
        if definer is not None and id(definer) not in taken:
            taken.add(id(definer))
            add(definer)
    return linked


def _reachable_needs(
    members: list[Member],
    definitions: dict[str, tuple[Member, int]],
    outside: set[str],
    users: dict[str, list[str]],
) -> None:
    """ld's --gc-sections mark phase: follow references from the roots; note the undefined ones."""
    seen: set[tuple[int, int]] = set()
    work: list[tuple[Member, int]] = []

    def mark(member: Member, section: int) -> None:
        if section >= 0 and (id(member), section) not in seen:
            seen.add((id(member), section))
            work.append((member, section))

    def refer(symbol: str, member: Member) -> None:
        if symbol not in outside:
            names = users.setdefault(symbol, [])
            if member.name not in names:
                names.append(member.name)

    for member in members:
        for section in member.kept:
            mark(member, section)
    for symbol in ROOT_SYMBOLS:
        found = definitions.get(symbol)
        if found is not None:
            mark(*found)
    while work:
        member, section = work.pop()
        local, external = member.edges.get(section, ((), ()))
        for target in local:
            mark(member, target)
        for symbol in external:
            if symbol in definitions:
                mark(*definitions[symbol])
            elif symbol in member.undefined:  # weak references are not: they never fail a link
                refer(symbol, member)
