"""The linker side of networking: the lwip preset, downloads named by make, trees' uncommitted changes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kraftld import downloads
from kraftld.config import BuildConfig, render_defconfig
from kraftld.kraftfile import Target, parse_kraftfile
from kraftld.presets import LIBRARY_PRESETS
from kraftld.process import Command, run_process
from kraftld.sources import SourceTree, changed_paths, worktree_state

NETWORK_KRAFTFILE = """\
spec: v0.6
name: net
unikraft: stable
libraries:
  musl: stable
  lwip:
    version: stable
    kconfig:
      CONFIG_LWIP_DHCP: n
targets: [qemu/x86_64]
"""


def options(defconfig: str) -> dict[str, str]:
    result = {}
    for line in defconfig.splitlines():
        if line.startswith("# ") and line.endswith(" is not set"):
            result[line[2:-11]] = "n"
        elif "=" in line:
            key, _, value = line.partition("=")
            result[key] = value
    return result


def test_naming_lwip_brings_its_preset_and_the_kraftfile_overrides_it() -> None:
    kraftfile = parse_kraftfile(NETWORK_KRAFTFILE, "/app/Kraftfile")
    got = options(render_defconfig(kraftfile, Target("qemu", "x86_64")))
    for row in LIBRARY_PRESETS["lwip"]:
        if row.option != "CONFIG_LWIP_DHCP":
            assert got[row.option] == row.value, row.option
    assert got["CONFIG_LWIP_DHCP"] == "n"  # the Kraftfile's own option wins
    assert got["CONFIG_LIBLWIP"] == "y"
    for needed in ("CONFIG_LIBVIRTIO_NET", "CONFIG_LWIP_SOCKET", "CONFIG_LIBPOSIX_POLL", "CONFIG_LIBPOSIX_EVENTFD"):
        assert got[needed] == "y"


def test_without_lwip_no_network_options() -> None:
    kraftfile = parse_kraftfile("libraries: {musl: stable}\ntargets: [qemu/x86_64]\n", "/app/Kraftfile")
    got = options(render_defconfig(kraftfile, Target("qemu", "x86_64")))
    assert not any(key.startswith(("CONFIG_LWIP", "CONFIG_LIBVIRTIO", "CONFIG_LIBUKNETDEV")) for key in got)


def test_every_preset_row_says_why() -> None:
    for rows in LIBRARY_PRESETS.values():
        assert len({row.option for row in rows}) == len(rows)
        for row in rows:
            assert row.option.startswith("CONFIG_") and row.value in ("y", "n") and len(row.why) > 10


# What `make -n fetch` printed for the kit's lib-musl + lib-lwip (one of lwIP's lines, trimmed).
DRY_RUN = [
    "make --no-print-directory CONFIG_UK_BASE=/uk -C /c/build -f /c/build/Makefile fetch\n",
    "printf '  %-7s %s\\n' 'WGET'  'liblwip':' https://github.com/unikraft/fork-lwip/archive/refs/heads/"
    "UNIKRAFT-2_1_x.zip' &&  kraftld-would-download -O /c/build/liblwip/UNIKRAFT-2_1_x.zip "
    "https://github.com/unikraft/fork-lwip/archive/refs/heads/UNIKRAFT-2_1_x.zip || rm -f "
    "/c/build/liblwip/UNIKRAFT-2_1_x.zip\n",
    "touch /c/build/liblwip/.chksum\n",
    # fetchas2: two URLs, one destination
    "kraftld-would-download -O /c/build/libx/x.tgz https://a/x.tgz || kraftld-would-download -O "
    "/c/build/libx/x.tgz https://b/x.tgz || rm -f /c/build/libx/x.tgz\n",
]


def test_downloads_are_read_from_make_s_dry_run() -> None:
    assert downloads.parse_query(DRY_RUN) == [
        downloads.Download(
            "/c/build/liblwip/UNIKRAFT-2_1_x.zip",
            "https://github.com/unikraft/fork-lwip/archive/refs/heads/UNIKRAFT-2_1_x.zip",
        ),
        downloads.Download("/c/build/libx/x.tgz", "https://a/x.tgz"),
    ]
    assert downloads.parse_query(DRY_RUN)[0].filename == "UNIKRAFT-2_1_x.zip"


def fetching_makefile(folder: Path) -> Path:
    """A makefile whose download rule is Unikraft's own shape: `$(WGET) -O FILE URL || rm`."""
    makefile = folder / "Makefile"
    makefile.write_text(
        "WGET := wget -q\n"
        # Another recipe first: make passes command-line variables into every recipe's environment.
        "fetch: prepare $(CURDIR)/build/lib/thing-1.0.tar.gz\n"
        "prepare:\n"
        "\t@echo preparing\n"
        "$(CURDIR)/build/lib/thing-1.0.tar.gz:\n"
        "\t$(WGET) -O $@ http://127.0.0.1:9/thing-1.0.tar.gz || rm -f $@\n"
    )
    return makefile


def test_make_names_the_download_and_cannot_download(tmp_path: Path) -> None:
    fetching_makefile(tmp_path)
    query = downloads.query_command(("make", "-C", str(tmp_path)), None)
    lines: list[str] = []
    with open(tmp_path / "log", "w") as log:
        assert run_process(query, log_file=log, on_line=lines.append).returncode == 0
    assert downloads.parse_query(lines) == [
        downloads.Download(f"{tmp_path}/build/lib/thing-1.0.tar.gz", "http://127.0.0.1:9/thing-1.0.tar.gz")
    ]
    refused = subprocess.run(
        ["make", "-C", str(tmp_path), downloads.REFUSING_WGET, "fetch"], capture_output=True, text=True
    )
    assert refused.returncode == 0  # Unikraft's recipe ends `|| rm -f FILE`: unpacking it fails next
    assert "kraftld: refused to download the file of the line above" in refused.stderr
    assert not (tmp_path / "build" / "lib" / "thing-1.0.tar.gz").exists()


def test_preseed_copies_from_the_mirror_or_names_the_missing_file(tmp_path: Path) -> None:
    fetching_makefile(tmp_path)
    query = downloads.query_command(("make", "-C", str(tmp_path)), None)
    archives = tmp_path / "archives"
    archives.mkdir()
    entry = tmp_path / "entry"
    entry.mkdir()
    with pytest.raises(Exception, match=r"KRAFTLD_SOURCES has no thing-1\.0\.tar\.gz"):
        downloads.preseed(
            query, str(archives), str(entry), "A=1\n", run_process, str(tmp_path / "log"), configured=True
        )
    (archives / "thing-1.0.tar.gz").write_bytes(b"the archive")
    placed = downloads.preseed(
        query, str(archives), str(entry), "A=1\n", run_process, str(tmp_path / "log"), configured=False
    )
    destination = tmp_path / "build" / "lib" / "thing-1.0.tar.gz"
    assert placed == [(str(archives / "thing-1.0.tar.gz"), str(destination))]
    assert destination.read_bytes() == b"the archive"

    # The answer is recorded for this configuration: make is not asked again.
    def no_make(command: Command, **_: object) -> object:
        raise AssertionError(f"make was asked again: {command.argv}")

    destination.unlink()
    again = downloads.preseed(
        query,
        str(archives),
        str(entry),
        "A=1\n",
        no_make,  # type: ignore[arg-type]
        str(tmp_path / "log"),
        configured=False,
    )
    assert again == placed


def git(tree: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(tree), *args], check=True, capture_output=True)


def test_tree_state_sees_every_uncommitted_change(tmp_path: Path) -> None:
    tree = tmp_path / "lib-x"
    tree.mkdir()
    git(tree, "init", "-q")
    (tree / "a.c").write_text("int a;\n")
    git(tree, "add", "a.c")
    git(tree, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    commit = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()

    def state(untracked: bool = True) -> str | None:
        return worktree_state(str(tree), commit, run_process, untracked=untracked)

    clean = state()
    assert clean == commit
    (tree / "a.c").write_text("int a = 1;\n")
    first_edit = state()
    (tree / "a.c").write_text("int a = 2;\n")
    second_edit = state()  # the same ` M a.c` status, other contents
    assert len({clean, first_edit, second_edit}) == 3
    (tree / "a.c").write_text("int a;\n")
    assert state() == clean
    (tree / "patches").mkdir()
    (tree / "patches" / "0001.patch").write_text("a patch\n")
    assert state() != clean
    assert state(untracked=False) == clean
    assert worktree_state(str(tree), None, run_process, untracked=True) is None


def test_changed_paths_reads_renames() -> None:
    assert changed_paths(" M a.c\0R  new.c\0old.c\0?? p/x.patch\0") == ["a.c", "new.c", "old.c", "p/x.patch"]


def test_the_cache_key_follows_a_library_s_state() -> None:
    def config(state: str | None) -> BuildConfig:
        return BuildConfig(
            name="app",
            unikraft=SourceTree("unikraft", "/uk", "c0", "c0"),
            libraries=(SourceTree("lwip", "/lib-lwip", "c1", state),),
            target=Target("qemu", "x86_64"),
            defconfig="",
        )

    assert config("c1").key == config(None).key  # a clean tree keys as its commit
    assert config("c1+0123").key != config("c1").key


def test_the_readme_lists_every_preset_option() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for rows in LIBRARY_PRESETS.values():
        for row in rows:
            assert f"`{row.option}`" in readme, row.option
