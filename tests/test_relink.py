"""The fast relink's parts: reading Unikraft's recorded steps, recording, and replaying them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kraftld.execute import replay as relink

LD = (
    '""gcc -Wl,-m,elf_x86_64 /b/libukboot.o -Wl,--start-group -Wl,--end-group -Wl,--wrap=exit /e/inputs/0000-a.o '
    "/c/runtime.o -nostdlib -Wl,-dT,/b/libkvmplat/link64.lds -o /b/app_qemu-x86_64.dbg"
)
STRIP = (
    '""strip -s /b/app_qemu-x86_64.dbg -o /b/app_qemu-x86_64 2>&1 | '
    '{ grep -Ev "Empty loadable segment detected|section.*lma.*adjusted to.*" || true; }'
)
BOOTINFO = (
    '/uk/support/scripts/mkbootinfo.py /b/app_qemu-x86_64 /b/app_qemu-x86_64.bootinfo -a "x86_64" && '
    '""objcopy /b/app_qemu-x86_64 --update-section .uk_bootinfo=/b/app_qemu-x86_64.bootinfo'
)


@pytest.mark.parametrize(
    ("script", "commands"),
    [
        ("/uk/support/scripts/multiboot.py /b/app", [("/uk/support/scripts/multiboot.py", "/b/app")]),
        (STRIP, [("strip", "-s", "/b/app_qemu-x86_64.dbg", "-o", "/b/app_qemu-x86_64")]),
        (
            BOOTINFO,
            [
                (
                    "/uk/support/scripts/mkbootinfo.py",
                    "/b/app_qemu-x86_64",
                    "/b/app_qemu-x86_64.bootinfo",
                    "-a",
                    "x86_64",
                ),
                ("objcopy", "/b/app_qemu-x86_64", "--update-section", ".uk_bootinfo=/b/app_qemu-x86_64.bootinfo"),
            ],
        ),
        ("gcc a.o; rm -rf /", None),
        ("gcc $(whoami)", None),
        ("gcc `id`", None),
        ("gcc a.o | tee log", None),
        ("gcc a.o > out", None),
        ("a && && b", None),
        ("gcc 'unterminated", None),
        ("", None),
    ],
)
def test_parse_step_script(script: str, commands: list[tuple[str, ...]] | None) -> None:
    assert relink.parse_step_script(script) == commands


def make_build(tmp_path: Path, extra: dict[str, str] | None = None) -> Path:
    build = tmp_path / "b"
    build.mkdir()
    image = build / "app_qemu-x86_64"
    scripts = {
        f"{image}.dbg.cmd": LD.replace("/b/", f"{build}/"),
        f"{image}.cmd": STRIP.replace("/b/", f"{build}/"),
        f"{image}.bootinfo.cmd": BOOTINFO.replace("/b/", f"{build}/"),
        f"{image}.multiboot.cmd": f"/uk/support/scripts/multiboot.py {image}",
        **(extra or {}),
    }
    for path, text in scripts.items():
        Path(path).write_text(text + "\n")
    (build / "libukboot.o").write_bytes(b"lib")
    (build / "libkvmplat").mkdir()
    (build / "libkvmplat" / "link64.lds").write_text("script")
    return image


LDFLAGS = ("-Wl,--wrap=exit", "/e/inputs/0000-a.o", "/c/runtime.o")


def test_record_and_replay(tmp_path: Path) -> None:
    image = make_build(tmp_path)
    prebuilt = relink.record("key", str(image.parent), str(image), LDFLAGS, [("/uk", "abc:def")])
    assert prebuilt is not None
    assert len(prebuilt.steps) == 5
    assert [p for p, _, _ in prebuilt.stamps] == [
        str(image.parent / "libkvmplat" / "link64.lds"),
        str(image.parent / "libukboot.o"),
    ]
    record_path = tmp_path / "prebuilt.json"
    prebuilt.save(str(record_path))
    assert relink.load_prebuilt(str(record_path), "key") == prebuilt
    assert relink.load_prebuilt(str(record_path), "other key") is None
    assert relink.files_unchanged(prebuilt)

    commands, new_image = relink.replay(
        prebuilt, ("-Wl,--wrap=exit", "/l/inputs/0000-b.o", "/l/inputs/0001-c.o", "/c/runtime.o"), "/l"
    )
    assert new_image == "/l/app_qemu-x86_64"
    ld = commands[0].argv
    assert ld[ld.index("-Wl,--end-group") + 1 : ld.index("-nostdlib")] == (
        "-Wl,--wrap=exit",
        "/l/inputs/0000-b.o",
        "/l/inputs/0001-c.o",
        "/c/runtime.o",
    )
    assert ld[-2:] == ("-o", "/l/app_qemu-x86_64.dbg")
    assert commands[1].argv == ("strip", "-s", "/l/app_qemu-x86_64.dbg", "-o", "/l/app_qemu-x86_64")
    assert commands[3].argv[-1] == ".uk_bootinfo=/l/app_qemu-x86_64.bootinfo"
    assert all(str(image.parent) not in word for command in commands for word in command.argv[1:] if "app_qemu" in word)

    os.utime(image.parent / "libukboot.o", ns=(1, 1))
    assert not relink.files_unchanged(prebuilt)


def test_unknown_steps_are_not_replayed(tmp_path: Path) -> None:
    image = make_build(tmp_path, {f"{tmp_path}/b/app_qemu-x86_64.efi.cmd": "make-efi app"})
    assert relink.record("key", str(image.parent), str(image), LDFLAGS, []) is None


def test_ldflags_must_appear_in_the_link_command(tmp_path: Path) -> None:
    image = make_build(tmp_path)
    assert relink.record("key", str(image.parent), str(image), ("/not/there.o",), []) is None


def test_broken_record_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "prebuilt.json"
    path.write_text("{not json")
    assert relink.load_prebuilt(str(path), "key") is None
    path.write_text('{"format": 1}')
    assert relink.load_prebuilt(str(path), "key") is None
    assert relink.load_prebuilt(str(tmp_path / "missing.json"), "key") is None


def test_tree_state_changes_with_uncommitted_changes() -> None:
    assert relink.tree_state("abc", "") != relink.tree_state("abc", " M lib/ukboot/boot.c")
    assert relink.tree_state("abc", "") != relink.tree_state("abd", "")
