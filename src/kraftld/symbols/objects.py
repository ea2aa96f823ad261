"""One relocatable ELF object's global symbols, kept sections and references, read with pyelftools.

A `Member` is one object: a file on the link line or an archive member; an `InputSymbols` is a
file on the link line with its members in order.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from ..errors import InputError

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from typing import BinaryIO

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


def read_object(path: str, name: str) -> Member:
    from elftools.common.exceptions import ELFError

    try:
        with open(path, "rb") as handle:
            return read_elf(handle, name)
    except (ELFError, OSError, ValueError) as error:
        raise InputError(
            f"cannot read the symbols of {name}: {error}", "check that it is an x86_64 ELF object"
        ) from None
