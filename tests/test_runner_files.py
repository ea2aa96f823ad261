"""Files in the guest, the pure and file-level parts: the cpio newc writer (checked against GNU
cpio), where the initrd comes from (--initrd, the Kraftfile's rootfs), the boot parameter and
QEMU argument it turns into, and what the Kraftfile's rootfs adds to the build."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kraftld.config import ROOTFS_KCONFIG, render_defconfig
from kraftld.errors import RunError
from kraftld.kraftfile import parse_kraftfile
from kraftld.runner import cpio, rootfs
from kraftld.runner.boot import fits_command_line, is_libtest_harness
from kraftld.runner.devices import INITRD_FSTAB, guest_setup
from kraftld.runner.image import ImageFacts
from kraftld.runner.qemu import BootOptions, device_args
from kraftld.runner.rootfs import Initrd
from kraftld.runner.settings import RunSettings, parse_run_args

WITH_CPIO = ImageFacts(frozenset({"libvfscore", "libramfs", "libukcpio"}), {"kraftld.seed": 4, "vfs.fstab": 2})
WITHOUT_CPIO = ImageFacts(frozenset({"libvfscore", "libramfs"}), {"kraftld.seed": 4, "vfs.fstab": 2})


def make_tree(root: Path) -> None:
    (root / "etc" / "deep" / "er").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.txt").write_bytes(b"abc")  # lengths around the 4-byte padding
    (root / "etc" / "b").write_bytes(b"")
    (root / "etc" / "deep" / "er" / "c.bin").write_bytes(bytes(range(256)) * 3 + b"x")
    (root / "nät ü.txt").write_text("non-ASCII name")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    os.symlink("etc/deep", root / "shortcut")


def test_cpio_writer_round_trips_through_gnu_cpio(tmp_path: Path) -> None:
    if shutil.which("cpio") is None:
        pytest.fail("GNU cpio is needed to check the writer (Debian: apt-get install cpio)")
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    target.mkdir()
    make_tree(source)
    archive = io.BytesIO()
    entries = cpio.write_folder(str(source), archive)
    assert entries == 10
    assert len(archive.getvalue()) % 4 == 0
    subprocess.run(["cpio", "--quiet", "-idm"], input=archive.getvalue(), cwd=target, check=True)
    for path in sorted(source.rglob("*")):
        copy = target / path.relative_to(source)
        if path.is_symlink():
            assert os.readlink(copy) == os.readlink(path)
        elif path.is_dir():
            assert copy.is_dir()
        else:
            assert copy.read_bytes() == path.read_bytes(), path
            assert copy.stat().st_mode == path.stat().st_mode
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == sorted(
        p.relative_to(source) for p in source.rglob("*")
    )


def test_cpio_writer_is_deterministic_and_ends_with_the_trailer(tmp_path: Path) -> None:
    make_tree(tmp_path)
    first, second = io.BytesIO(), io.BytesIO()
    cpio.write_folder(str(tmp_path), first)
    cpio.write_folder(str(tmp_path), second)
    assert first.getvalue() == second.getvalue()
    assert first.getvalue().startswith(b"070701")
    assert b"TRAILER!!!\0" in first.getvalue()[-128:]


def test_cpio_writer_refuses_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(RunError, match="neither a file, a folder nor a symlink"):
        cpio.write_folder(str(tmp_path), io.BytesIO())


def test_initrd_comes_from_the_option_else_the_kraftfile(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "files").mkdir(parents=True)
    (project / "src").mkdir()
    (project / "Kraftfile").write_text("rootfs: ./files\ntargets: [qemu/x86_64]\n")
    assert rootfs.initrd_source(None, str(project / "src")) == Initrd(
        str(project / "files"), f"rootfs in {project / 'Kraftfile'}"
    )
    other = tmp_path / "other"
    other.mkdir()
    assert rootfs.initrd_source(str(other), str(project)) == Initrd(str(other), "--initrd")
    assert rootfs.initrd_source(None, str(other)) is None  # no Kraftfile above it
    (project / "Kraftfile").write_text("targets: [qemu/x86_64]\n")
    assert rootfs.initrd_source(None, str(project)) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not an archive", "not a cpio archive in the newc format"), (None, "no file or folder")],
)
def test_initrd_errors(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "initrd"
    if content is not None:
        path.write_bytes(content)
    (tmp_path / "Kraftfile").write_text(f"rootfs: {path}\ntargets: [qemu/x86_64]\n")
    with pytest.raises(RunError, match=message):
        rootfs.initrd_source(None, str(tmp_path))


def test_prepare_packs_a_folder_and_links_a_file(tmp_path: Path) -> None:
    make_tree(tmp_path / "tree")
    (tmp_path / "stage").mkdir()
    packed = rootfs.prepare(Initrd(str(tmp_path / "tree"), "--initrd"), str(tmp_path / "stage"))
    assert Path(packed).read_bytes().startswith(b"070701") and "," not in packed
    (tmp_path / "stage2").mkdir()
    linked = rootfs.prepare(Initrd(packed, "--initrd"), str(tmp_path / "stage2"))
    assert os.path.realpath(linked) == os.path.realpath(packed)


def test_initrd_option_is_the_callers_relative_path(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    parsed = parse_run_args(["--initrd", "data", "img"], {}, str(tmp_path))
    assert isinstance(parsed, RunSettings)
    assert (parsed.initrd, parsed.cwd) == (str(tmp_path / "data"), str(tmp_path))
    with pytest.raises(RunError, match="no file or folder"):
        parse_run_args(["--initrd", "missing", "img"], {}, str(tmp_path))


def test_initrd_becomes_a_fstab_entry_before_the_volumes(tmp_path: Path) -> None:
    parsed = parse_run_args(["-v", f"{tmp_path}:/data", "img"], {}, str(tmp_path))
    assert isinstance(parsed, RunSettings)
    facts = ImageFacts(WITH_CPIO.libraries | {"lib9pfs", "libuk9p", "libvirtio_9p", "libvirtio_pci"}, WITH_CPIO.params)
    setup = guest_setup(parsed, facts, Initrd(str(tmp_path), "--initrd"))
    assert setup.params[:2] == (f"vfs.fstab={INITRD_FSTAB}", "vfs.fstab=fs0:/data:9pfs:0x0::mkmp")
    with pytest.raises(RunError, match="holds at most 1"):
        guest_setup(parsed, ImageFacts(facts.libraries, {"vfs.fstab": 1}), Initrd(str(tmp_path), "--initrd"))


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        (WITHOUT_CPIO, "--initrd: the image lacks libukcpio"),
        (ImageFacts(frozenset({"libnolibc"}), {"kraftld.seed": 4}), "--initrd: the image has no vfs.fstab"),
    ],
)
def test_initrd_needs_the_extractor_in_the_image(tmp_path: Path, facts: ImageFacts, message: str) -> None:
    with pytest.raises(RunError, match=message) as raised:
        guest_setup(RunSettings("img", ()), facts, Initrd(str(tmp_path), "--initrd"))
    assert "CONFIG_LIBUKCPIO" in raised.value.hint


def test_qemu_loads_the_initrd() -> None:
    assert device_args(BootOptions(initrd="/tmp/x/initrd.cpio"))[:2] == ["-initrd", "/tmp/x/initrd.cpio"]
    assert "-initrd" not in device_args(BootOptions())


def test_kraftfile_rootfs_is_relative_to_the_kraftfile_and_adds_the_extractor() -> None:
    kraftfile = parse_kraftfile("rootfs: ./files\ntargets: [qemu/x86_64]\n", "/app/Kraftfile")
    assert kraftfile.rootfs == "/app/files"
    defconfig = render_defconfig(kraftfile, kraftfile.targets[0])
    assert all(f"{key}={value}" in defconfig.splitlines() for key, value in ROOTFS_KCONFIG)
    plain = parse_kraftfile("targets: [qemu/x86_64]\n", "/app/Kraftfile")
    assert plain.rootfs is None and "CONFIG_LIBUKCPIO" not in render_defconfig(plain, plain.targets[0])
    with pytest.raises(Exception, match="rootfs must be a path"):
        parse_kraftfile("rootfs: [a]\ntargets: [qemu/x86_64]\n", "/app/Kraftfile")


@pytest.mark.parametrize(
    ("args", "fits"),
    [
        ((), True),
        (tuple(f"t{i}" for i in range(50)), True),
        (tuple(f"t{i}" for i in range(60)), False),  # ukboot's 60 words
        (("x" * 5000,), False),  # ukboot's 4096 bytes
    ],
)
def test_fits_command_line(args: tuple[str, ...], fits: bool) -> None:
    assert fits_command_line("image", args, ()) is fits


def test_a_libtest_harness_is_known_by_libtests_own_words(tmp_path: Path) -> None:
    (tmp_path / "harness").write_bytes(b"\0" * 100 + b"\ntest result: " + b"\0" * 100)
    (tmp_path / "plain").write_bytes(b"running 1 test\n")
    assert is_libtest_harness(str(tmp_path / "harness"))
    assert not is_libtest_harness(str(tmp_path / "plain"))
    assert not is_libtest_harness(str(tmp_path / "missing"))
