"""Kconfig choice groups in a defconfig: an option that picks a member drops earlier picks of its group.

A Kconfig `choice` takes exactly one member. kraftld's defaults pick some (the debug level, the
kernel message level, the banner), and a Kraftfile that picks another member must win cleanly:
a defconfig naming two members of one choice as `y` leaves the pick to the order Kconfig happens
to read them in, so the earlier pick is removed instead. The groups are data, each with the Config.uk it comes from.
"""

from __future__ import annotations

from collections.abc import Sequence

# (members, where Unikraft defines the choice)
CHOICES: tuple[tuple[frozenset[str], str], ...] = (
    (
        frozenset({f"CONFIG_DEBUG_SYMBOLS_LVL{level}" for level in range(4)}),
        'unikraft/Config.uk: choice "Debug information level"',
    ),
    (
        frozenset(f"CONFIG_LIBUKDEBUG_PRINTK_{level}" for level in ("INFO", "WARN", "ERR", "CRIT")),
        'unikraft/lib/ukdebug/Config.uk: choice "Kernel message level"',
    ),
    (
        frozenset(
            f"CONFIG_LIBUKBOOT_BANNER_{style}"
            for style in (
                "NONE",
                "MINIMAL",
                "CLASSIC",
                "POWEREDBY",
                "POWEREDBY_ANSI",
                "POWEREDBY_ANSI2",
                "POWEREDBY_EA",
                "POWEREDBY_EAANSI",
                "POWEREDBY_EAANSI2",
                "POWEREDBY_U8",
            )
        ),
        "unikraft/lib/ukboot/Config.uk: choice LIBUKBOOT_BANNER",
    ),
)


def group_of(option: str) -> frozenset[str] | None:
    for members, _ in CHOICES:
        if option in members:
            return members
    return None


def drop_overridden_picks(options: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """`options` without any choice member set to `y` before a later member of its group is set to `y`."""
    kept: list[tuple[str, str]] = []
    for key, value in options:
        members = group_of(key)
        if members is not None and value == "y":
            kept = [(k, v) for k, v in kept if not (k in members and k != key and v == "y")]
        kept.append((key, value))
    return kept
