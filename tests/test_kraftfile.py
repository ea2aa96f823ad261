"""Kraftfiles (spec v0.5/v0.6), target selection and the defconfig kraftld writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kraftld.config import render_defconfig, select_target
from kraftld.errors import ConfigError
from kraftld.kraftfile import DEFAULT_KRAFTFILE, Component, Target, find_kraftfile, kconfig_value, parse_kraftfile

V06 = """\
spec: v0.6
name: hello world
unikraft:
  source: ../unikraft
  version: stable
  kconfig:
    CONFIG_LIBUKDEBUG_PRINTK_INFO: y
libraries:
  musl:
    version: stable
    kconfig:
      - CONFIG_LIBMUSL_COMPLEX=y
  lwip: stable
targets:
  - qemu/x86_64
  - name: fc
    plat: fc
    arch: x86_64
    kconfig:
      CONFIG_X: 3
"""

V05 = """\
specification: '0.5'
name: helloworld
unikraft: stable
targets:
  - architecture: x86_64
    platform: qemu
"""


def test_v06() -> None:
    kraftfile = parse_kraftfile(V06, "/app/Kraftfile")
    assert kraftfile.name == "hello world"
    assert kraftfile.unikraft == Component(
        "unikraft", "../unikraft", "stable", (("CONFIG_LIBUKDEBUG_PRINTK_INFO", "y"),)
    )
    assert kraftfile.libraries == (
        Component("musl", None, "stable", (("CONFIG_LIBMUSL_COMPLEX", "y"),)),
        Component("lwip", None, "stable"),
    )
    assert kraftfile.targets == (Target("qemu", "x86_64"), Target("fc", "x86_64", "fc", (("CONFIG_X", "3"),)))
    assert kraftfile.folder == "/app"


def test_v05() -> None:
    kraftfile = parse_kraftfile(V05, "/app/kraft.yaml")
    assert kraftfile.unikraft == Component("unikraft", version="stable")
    assert kraftfile.targets == (Target("qemu", "x86_64"),)


def test_unikraft_string_can_be_a_source() -> None:
    kraftfile = parse_kraftfile("unikraft: https://example.org/uk.git\ntargets: [qemu/x86_64]\n", "/a/Kraftfile")
    assert kraftfile.unikraft.source == "https://example.org/uk.git"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "not a YAML mapping"),
        ("nmae: x\ntargets: [qemu/x86_64]\n", "unknown key nmae"),
        ("name: x\n", "names no targets"),
        ("targets: qemu/x86_64\n", "must be a list"),
        ("targets: [qemu]\n", "not plat/arch"),
        ("targets: [{plat: qemu}]\n", "needs plat and arch"),
        ("targets: [{plat: qemu, arch: x86_64, cpu: max}]\n", "unknown key cpu"),
        ("unikraft: {source: x, tag: y}\ntargets: [qemu/x86_64]\n", "unknown key tag"),
        ("libraries: [musl]\ntargets: [qemu/x86_64]\n", "libraries must be a mapping"),
        ("unikraft: {kconfig: [NOEQUALS]}\ntargets: [qemu/x86_64]\n", "not KEY=VALUE"),
        ("unikraft: {kconfig: {LIBFOO: y}}\ntargets: [qemu/x86_64]\n", "not a Kconfig option name"),
    ],
)
def test_bad_kraftfiles(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_kraftfile(text, "/app/Kraftfile")


def test_kraftkit_keys_that_do_not_change_the_link_are_accepted() -> None:
    parse_kraftfile("name: x\ncmd: [/app]\nrootfs: ./rootfs\nruntime: base\ntargets: [qemu/x86_64]\n", "/a/Kraftfile")


@pytest.mark.parametrize(
    ("raw", "written"),
    [
        (True, "y"),
        (False, "n"),
        ("y", "y"),
        ("m", "m"),
        (42, "42"),
        ("0x1000", "0x1000"),
        ("-1", "-1"),
        ("ramfs", '"ramfs"'),
        ('"quoted"', '"quoted"'),
        ('a"b', '"a\\"b"'),
    ],
)
def test_kconfig_values(raw: object, written: str) -> None:
    assert kconfig_value(raw) == written


def test_find_kraftfile_walks_up(tmp_path: Path) -> None:
    (tmp_path / "Kraftfile").write_text(V05)
    deep = tmp_path / "target" / "debug" / "deps"
    deep.mkdir(parents=True)
    assert find_kraftfile(str(deep)) == str(tmp_path / "Kraftfile")


TWO = parse_kraftfile(V06, "/app/Kraftfile")


@pytest.mark.parametrize(
    ("wanted", "label"),
    [("qemu/x86_64", "qemu/x86_64"), ("fc", "fc/x86_64"), ("fc/x86_64", "fc/x86_64")],
)
def test_select_target(wanted: str, label: str) -> None:
    assert select_target(TWO, wanted).label == label


@pytest.mark.parametrize(
    ("kraftfile", "wanted", "message"),
    [
        (TWO, None, "several targets"),
        (TWO, "xen/x86_64", "matches none"),
        (
            parse_kraftfile("targets: [qemu/x86_64, {name: qemu/x86_64, plat: fc, arch: x86_64}]\n", "/a/K"),
            "qemu/x86_64",
            "matches several",
        ),
        (parse_kraftfile("targets: [xen/x86_64]\n", "/a/K"), None, "platform 'xen'"),
        (parse_kraftfile("targets: [qemu/arm64]\n", "/a/K"), None, "architecture 'arm64'"),
    ],
)
def test_select_target_errors(kraftfile: object, wanted: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        select_target(kraftfile, wanted)  # type: ignore[arg-type]
    assert raised.value.hint


def test_defconfig_order_and_overrides() -> None:
    text = render_defconfig(TWO, TWO.targets[1])
    lines = text.splitlines()
    assert lines[:3] == ["CONFIG_PLAT_KVM=y", "CONFIG_KVM_VMM_FIRECRACKER=y", "CONFIG_ARCH_X86_64=y"]
    assert "# CONFIG_LIBUKRANDOM is not set" in lines
    assert "CONFIG_LIBMUSL=y" in lines and "CONFIG_LIBLWIP=y" in lines
    assert lines[-1] == "CONFIG_X=3"


def test_kraftfile_options_win_over_kraftld_defaults() -> None:
    kraftfile = parse_kraftfile("unikraft: {kconfig: {CONFIG_LIBUKRANDOM: y}}\ntargets: [qemu/x86_64]\n", "/a/K")
    lines = render_defconfig(kraftfile, kraftfile.targets[0]).splitlines()
    assert "CONFIG_LIBUKRANDOM=y" in lines and "# CONFIG_LIBUKRANDOM is not set" not in lines


def test_default_configuration() -> None:
    text = render_defconfig(DEFAULT_KRAFTFILE, DEFAULT_KRAFTFILE.targets[0])
    assert "CONFIG_KVM_VMM_QEMU=y" in text and "CONFIG_LIBUKLIBPARAM=y" in text
