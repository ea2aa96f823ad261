"""kraftld's debug level default and Kconfig choice groups: a Kraftfile's pick replaces kraftld's."""

from __future__ import annotations

import pytest

from kraftld.config import render_defconfig
from kraftld.kconfig_choice import drop_overridden_picks
from kraftld.kraftfile import DEFAULT_KRAFTFILE, parse_kraftfile

LEVELS = [f"CONFIG_DEBUG_SYMBOLS_LVL{level}" for level in range(4)]


def debug_lines(kraftfile_text: str | None) -> list[str]:
    kraftfile = DEFAULT_KRAFTFILE if kraftfile_text is None else parse_kraftfile(kraftfile_text, "/a/Kraftfile")
    text = render_defconfig(kraftfile, kraftfile.targets[0])
    return [line for line in text.splitlines() if "DEBUG_SYMBOLS" in line]


@pytest.mark.parametrize(
    ("kraftfile", "expected"),
    [
        # kraftld's default: gcc's -g2, not Unikraft's -g3.
        (None, ["CONFIG_DEBUG_SYMBOLS_LVL2=y"]),
        ("targets: [qemu/x86_64]\n", ["CONFIG_DEBUG_SYMBOLS_LVL2=y"]),
        # A Kraftfile's pick replaces kraftld's: only one member of the choice is left.
        (
            "unikraft: {kconfig: {CONFIG_DEBUG_SYMBOLS_LVL3: y}}\ntargets: [qemu/x86_64]\n",
            ["CONFIG_DEBUG_SYMBOLS_LVL3=y"],
        ),
        (
            "unikraft: {kconfig: {CONFIG_DEBUG_SYMBOLS_LVL0: y}}\ntargets: [qemu/x86_64]\n",
            ["CONFIG_DEBUG_SYMBOLS_LVL0=y"],
        ),
        # The same pick as kraftld's: one line.
        (
            "unikraft: {kconfig: {CONFIG_DEBUG_SYMBOLS_LVL2: y}}\ntargets: [qemu/x86_64]\n",
            ["CONFIG_DEBUG_SYMBOLS_LVL2=y"],
        ),
        # From a target's kconfig too (the last word of the defconfig).
        (
            "targets: [{plat: qemu, arch: x86_64, kconfig: {CONFIG_DEBUG_SYMBOLS_LVL1: y}}]\n",
            ["CONFIG_DEBUG_SYMBOLS_LVL1=y"],
        ),
        # Turning kraftld's pick off leaves the choice to Unikraft's default (-g3).
        (
            "unikraft: {kconfig: {CONFIG_DEBUG_SYMBOLS_LVL2: n}}\ntargets: [qemu/x86_64]\n",
            ["# CONFIG_DEBUG_SYMBOLS_LVL2 is not set"],
        ),
    ],
)
def test_debug_level_in_the_defconfig(kraftfile: str | None, expected: list[str]) -> None:
    assert debug_lines(kraftfile) == expected


def test_a_later_pick_drops_only_earlier_picks_of_its_own_group() -> None:
    options = [
        ("CONFIG_DEBUG_SYMBOLS_LVL2", "y"),
        ("CONFIG_LIBUKDEBUG_PRINTK_CRIT", "y"),
        ("CONFIG_DEBUG_SYMBOLS_LVL1", "n"),  # not a pick: nothing dropped
        ("CONFIG_DEBUG_SYMBOLS_LVL3", "y"),
        ("CONFIG_LIBVFSCORE", "y"),  # in no choice: untouched
    ]
    assert drop_overridden_picks(options) == [
        ("CONFIG_LIBUKDEBUG_PRINTK_CRIT", "y"),  # another group's pick stays
        ("CONFIG_DEBUG_SYMBOLS_LVL1", "n"),
        ("CONFIG_DEBUG_SYMBOLS_LVL3", "y"),
        ("CONFIG_LIBVFSCORE", "y"),
    ]


def test_a_kraftfile_printk_level_replaces_kraftld_s() -> None:
    kraftfile = parse_kraftfile(
        "unikraft: {kconfig: {CONFIG_LIBUKDEBUG_PRINTK_INFO: y, CONFIG_LIBUKBOOT_BANNER_MINIMAL: y}}\n"
        "targets: [qemu/x86_64]\n",
        "/a/Kraftfile",
    )
    lines = render_defconfig(kraftfile, kraftfile.targets[0]).splitlines()
    assert "CONFIG_LIBUKDEBUG_PRINTK_INFO=y" in lines and "CONFIG_LIBUKDEBUG_PRINTK_CRIT=y" not in lines
    assert "CONFIG_LIBUKBOOT_BANNER_MINIMAL=y" in lines and "CONFIG_LIBUKBOOT_BANNER_NONE=y" not in lines
