"""Chooses libraries and options from the symbols a link needs and what the libraries at hand
export, by the rule table (`rules`); `apply` writes the choice as the equivalent Kraftfile.

Pure: the symbols and the exports are read by `choose`. A symbol nothing provides is an error
naming it and the inputs needing it, with a hint at the library elsewhere that may define it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..config import library_option
from ..errors import ConfigError
from ..exports import CoreExports
from ..kraftfile import Component, Kraftfile
from ..symbols.needed import Needed
from .rules import ALWAYS_PROVIDED, ALWAYS_PROVIDED_PREFIXES, ELSEWHERE, LIBC_WHY, RULES, Options


@dataclass(frozen=True)
class Reason:
    """One chosen library or option set, and what in the link called for it."""

    what: str  # "lib-musl", "core library vfscore", "rule files"
    why: str
    needed_by: Mapping[str, tuple[str, ...]]  # input → the symbols that required it
    kconfig: Options = ()
    libraries: tuple[str, ...] = ()  # the external libraries it brings


@dataclass(frozen=True)
class Selection:
    libc: str  # "nolibc" or "musl"
    libraries: tuple[str, ...]  # external libraries, in the order they are added
    kconfig: Options
    reasons: tuple[Reason, ...]
    unprovided: tuple[str, ...] = ()  # symbols only the musl table could have judged (no table)


@dataclass(frozen=True)
class Available:
    """What the libraries at hand export: the core's lists, musl's table (None: unknown), and
    which external libraries can be had."""

    core: CoreExports
    musl: frozenset[str] | None
    external: frozenset[str]  # names of external libraries the sources offer (musl, lwip)
    linker_defined: frozenset[str] = frozenset()


def _always_provided(symbol: str, available: Available) -> bool:
    return (
        symbol in ALWAYS_PROVIDED or symbol in available.linker_defined or symbol.startswith(ALWAYS_PROVIDED_PREFIXES)
    )


def select(needed: Needed, available: Available) -> Selection:
    """The libraries and options for `needed`; raises ConfigError for symbols nothing provides."""
    wanted = {s: users for s, users in needed.symbols.items() if not _always_provided(s, available)}
    fired = [rule for rule in RULES if rule.symbols & wanted.keys()]
    core = available.core
    beyond_core = {s for s in wanted if not core.providers(s)}
    musl = bool(beyond_core) or any("musl" in rule.libraries for rule in fired)
    reasons: list[Reason] = []
    libraries: list[str] = []
    kconfig: list[tuple[str, str]] = []

    unprovided: tuple[str, ...] = ()
    if musl:
        if available.musl is not None:
            missing = sorted(s for s in beyond_core if s not in available.musl)
            if missing:
                raise unprovided_error(missing, needed)
            libc_symbols = {s for s in wanted if s in available.musl}
        else:
            libc_symbols = set(beyond_core)
            unprovided = tuple(sorted(beyond_core))
        if "musl" not in available.external:
            raise ConfigError(
                "the program needs lib-musl, and the sources at hand have none",
                "add lib-musl to the KRAFTLD_SOURCES mirror, or name it in a Kraftfile",
                details=_listing(needed, sorted(beyond_core or libc_symbols)),
            )
        libraries.append("musl")
        reasons.append(
            Reason("lib-musl", LIBC_WHY["musl"], _by_input(needed, beyond_core or libc_symbols), (), ("musl",))
        )
        for_core = {s for s in wanted if s not in libc_symbols}
    else:
        reasons.append(
            Reason(
                "nolibc", LIBC_WHY["nolibc"], _by_input(needed, {s for s in wanted if "nolibc" in core.providers(s)})
            )
        )
        for_core = {s for s in wanted if "nolibc" not in core.providers(s)}

    # Core libraries for what libc does not cover: each symbol's exporting library is enabled.
    per_library: dict[str, set[str]] = {}
    for symbol in for_core:
        providers = [p for p in core.providers(symbol) if p != "nolibc"]
        if providers:
            per_library.setdefault(providers[0], set()).add(symbol)
    for name in sorted(per_library):
        option = ((library_option(name), "y"),)
        kconfig.extend(option)
        reasons.append(
            Reason(
                f"core library {name}",
                "it exports these symbols (its exportsyms.uk)",
                _by_input(needed, per_library[name]),
                option,
            )
        )

    for rule in fired:
        for library in rule.libraries:
            if library not in available.external:
                raise ConfigError(
                    f"the program needs lib-{library} ({rule.name}), and the sources at hand have none",
                    f"add lib-{library} to the KRAFTLD_SOURCES mirror, or write a Kraftfile without it",
                    details=_listing(needed, sorted(rule.symbols & wanted.keys())),
                )
            if library not in libraries:
                libraries.append(library)
        kconfig.extend(rule.kconfig)
        reasons.append(
            Reason(
                f"rule {rule.name}",
                rule.why,
                _by_input(needed, rule.symbols & wanted.keys()),
                rule.kconfig,
                rule.libraries,
            )
        )
    return Selection("musl" if musl else "nolibc", tuple(libraries), _last_wins(kconfig), tuple(reasons), unprovided)


def _last_wins(options: Iterable[tuple[str, str]]) -> Options:
    last: dict[str, str] = {}
    for key, value in options:
        last.pop(key, None)
        last[key] = value
    return tuple(last.items())


def _by_input(needed: Needed, symbols: Iterable[str]) -> dict[str, tuple[str, ...]]:
    return {user: tuple(names) for user, names in needed.by_input(symbols).items()}


def _listing(needed: Needed, symbols: list[str], limit: int = 20) -> list[str]:
    lines = []
    for user, names in needed.by_input(symbols).items():
        shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
        lines.append(f"  {user} needs {shown}")
    return lines


def nearest_elsewhere(symbols: Iterable[str]) -> list[str]:
    found: list[str] = []
    for symbol in symbols:
        for pattern, library in ELSEWHERE:
            if re.search(pattern, symbol) and library not in found:
                found.append(library)
    return found


def unprovided_error(missing: list[str], needed: Needed) -> ConfigError:
    elsewhere = nearest_elsewhere(missing)
    hint = (
        f"these may come from {', '.join(elsewhere)} (not in the sources at hand): add it to the mirror and name "
        "it in a Kraftfile, or link an archive that defines them"
        if elsewhere
        else "link the object or archive that defines them, or name the Unikraft library that does in a Kraftfile"
    )
    shown = ", ".join(missing[:12]) + (f" and {len(missing) - 12} more" if len(missing) > 12 else "")
    return ConfigError(
        f"no available Unikraft library provides {shown}",
        hint,
        details=["symbols and the inputs needing them:", *_listing(needed, missing)],
    )


def apply(kraftfile: Kraftfile, selection: Selection) -> Kraftfile:
    """The Kraftfile equivalent to `kraftfile` with the chosen libraries and options: the chosen
    options come first, so the Kraftfile's own options win."""
    named = {lib.name for lib in kraftfile.libraries}
    libraries = kraftfile.libraries + tuple(Component(name) for name in selection.libraries if name not in named)
    unikraft = dataclasses.replace(
        kraftfile.unikraft, kconfig=_last_wins(selection.kconfig + kraftfile.unikraft.kconfig)
    )
    return dataclasses.replace(kraftfile, libraries=libraries, unikraft=unikraft, auto_libraries=False)
