"""Files in the guest, for real: the Kraftfile's `rootfs:` folder and `kraftld-run --initrd
FILE|DIR` become the guest's / (a cpio initrd extracted by Unikraft's ukcpio), relative paths in
--initrd and --qemu-arg are the caller's, errors name what the image lacks; and the guest's
stderr reaches the runner's stderr (a C program on lib-musl)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from realboot import PROGRAMS, Tools

# lib-musl and a RAM root: the rust-std example's Kraftfile, whose build other tests share.
MUSL_KRAFTFILE = Path(__file__).parent.parent.parent / "examples" / "rust-std" / "Kraftfile"

# Nothing but `rootfs:`: kraftld adds what extracts it (vfscore, ramfs, ukcpio, vfs.fstab).
ROOTFS_KRAFTFILE = """\
spec: v0.6
name: rootfiles
unikraft:
  version: stable
rootfs: ./rootfs
targets:
  - qemu/x86_64
"""


@pytest.fixture(scope="module")
def project(tools: Tools) -> Path:
    folder = tools.work / "rootfiles-project"
    (folder / "rootfs" / "etc" / "app").mkdir(parents=True, exist_ok=True)
    (folder / "Kraftfile").write_text(ROOTFS_KRAFTFILE)
    (folder / "rootfs" / "greeting.txt").write_text("hello from the rootfs")
    (folder / "rootfs" / "etc" / "app" / "conf").write_text("key=value")
    if not (folder / "rootfs" / "link.txt").is_symlink():
        os.symlink("greeting.txt", folder / "rootfs" / "link.txt")
    obj = tools.compile_c(PROGRAMS / "rootfiles.c", folder / "rootfiles.o")
    tools.kraftld([str(obj), "-o", str(folder / "rootfiles")], cwd=folder)
    return folder


def run(tools: Tools, cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "kraftld.run", *args], cwd=cwd, env=tools.environ, capture_output=True, timeout=120
    )


def test_the_kraftfiles_rootfs_is_the_guests_root(tools: Tools, project: Path) -> None:
    result = run(tools, project, "./rootfiles", "cat", "/greeting.txt", "/etc/app/conf", "/link.txt")
    expected = b"<hello from the rootfs>\n<key=value>\n<hello from the rootfs>\n"
    assert (result.returncode, result.stdout) == (0, expected), result.stderr
    listed = run(tools, project, "./rootfiles", "ls", "/etc/app")
    assert listed.stdout == b"conf\n", listed.stderr
    # Packed for each run: an edited file needs no new link.
    (project / "rootfs" / "greeting.txt").write_text("edited, not relinked")
    try:
        again = run(tools, project, str(project / "rootfiles"), "cat", "/greeting.txt")
        assert again.stdout == b"<edited, not relinked>\n", again.stderr
    finally:
        (project / "rootfs" / "greeting.txt").write_text("hello from the rootfs")


def test_initrd_option_takes_a_folder_or_a_cpio_file_relative_to_the_caller(
    tools: Tools, project: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "file.txt").write_text("from --initrd")
    image = str(project / "rootfiles")
    folder = run(tools, tmp_path, "--initrd", "data", image, "cat", "/sub/file.txt")
    assert (folder.returncode, folder.stdout) == (0, b"<from --initrd>\n"), folder.stderr
    # An archive made by GNU cpio, the format the Linux kernel's initramfs uses too.
    archive = subprocess.run(
        ["sh", "-c", "find . -mindepth 1 | sort | cpio --quiet -o -H newc"], cwd=data, capture_output=True, check=True
    ).stdout
    (tmp_path / "data.cpio").write_bytes(archive)
    packed = run(tools, tmp_path, "--initrd", "data.cpio", image, "cat", "/sub/file.txt")
    assert (packed.returncode, packed.stdout) == (0, b"<from --initrd>\n"), packed.stderr
    # --initrd wins over the Kraftfile's rootfs: the rootfs' files are not there.
    instead = run(tools, project, "--initrd", str(data), image, "cat", "/greeting.txt")
    assert instead.returncode == 2 and b"open /greeting.txt failed" in instead.stdout + instead.stderr
    # QEMU runs in the caller's folder: a relative path in --qemu-arg is the caller's.
    by_hand = run(
        tools,
        tmp_path,
        "--qemu-arg=-initrd",
        "--qemu-arg=data.cpio",
        "--param",
        "vfs.fstab=initrd0:/:extract::ramfs=2",
        image,
        "cat",
        "/sub/file.txt",
    )
    assert (by_hand.returncode, by_hand.stdout) == (0, b"<from --initrd>\n"), by_hand.stderr


def test_initrd_errors_name_the_fix(tools: Tools, project: Path, behave_image: Path, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    lacking = run(tools, tmp_path, "--initrd", "data", str(behave_image), "return", "0")
    assert lacking.returncode == 125
    assert b"--initrd" in lacking.stderr and b"CONFIG_LIBUKCPIO" in lacking.stderr, lacking.stderr
    (tmp_path / "not.cpio").write_text("plain text")
    wrong = run(tools, tmp_path, "--initrd", "not.cpio", str(project / "rootfiles"), "ls", "/")
    assert wrong.returncode == 125 and b"not a cpio archive" in wrong.stderr, wrong.stderr
    missing = run(tools, tmp_path, "--initrd", "nowhere", str(project / "rootfiles"), "ls", "/")
    assert missing.returncode == 125 and b"no file or folder" in missing.stderr, missing.stderr


@pytest.fixture(scope="module")
def musl_rootfiles(tools: Tools) -> Path:
    if not os.environ.get("KRAFTLD_TEST_SOURCES"):
        pytest.skip("set KRAFTLD_TEST_SOURCES to an offline mirror with lib-musl/ and archives/musl-1.2.3.tar.gz")
    folder = tools.work / "rootfiles-musl"
    folder.mkdir(exist_ok=True)
    (folder / "Kraftfile").write_text(MUSL_KRAFTFILE.read_text())
    obj = tools.compile_c(PROGRAMS / "rootfiles.c", folder / "rootfiles.o")
    # As the rust-std tests link: Unikraft and lib-musl from the mirror, so the build is theirs.
    musl_tools = tools.from_mirror(os.environ["KRAFTLD_TEST_SOURCES"])
    musl_tools.kraftld([str(obj), "-o", str(folder / "rootfiles")], cwd=folder, timeout=1800)
    return folder / "rootfiles"


def test_the_guests_stderr_reaches_the_runners_stderr(tools: Tools, musl_rootfiles: Path, tmp_path: Path) -> None:
    failed = run(tools, tmp_path, str(musl_rootfiles), "cat", "/missing")
    assert failed.returncode == 2
    assert (failed.stdout, failed.stderr) == (b"", b"open /missing failed: errno 2\n")
    usage = run(tools, tmp_path, str(musl_rootfiles))
    assert (usage.returncode, usage.stdout) == (64, b"")
    assert usage.stderr == b"usage: rootfiles cat PATH... | ls PATH\n"
    listed = run(tools, tmp_path, str(musl_rootfiles), "ls", "/")
    assert listed.returncode == 0 and listed.stderr == b"", listed.stderr
