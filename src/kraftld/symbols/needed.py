"""Which symbols a link needs from outside its inputs, as GNU ld decides it: the archive members
it pulls in and, under `--gc-sections`, only what is reachable from `main`, the constructors and
the sections Unikraft's linker scripts keep.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .objects import InputSymbols, Member

ROOT_SYMBOLS = ("main",)  # what Unikraft's boot code calls in the application


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
