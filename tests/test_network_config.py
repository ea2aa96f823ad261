"""The linker side of networking: the lwip preset, downloads copied from the mirror, trees' uncommitted changes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kraftld import downloads
from kraftld.config import BuildConfig, render_defconfig
from kraftld.kraftfile import Target, parse_kraftfile
from kraftld.presets import LIBRARY_PRESETS
from kraftld.process import run_process
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


def fetching_makefile(folder: Path) -> Path:
    """A makefile whose download rules are Unikraft's own shape (support/build/Makefile.rules):
    fetchas's `$(WGET) -O FILE URL || $(RM) FILE`, fetchas2's second URL, and the unpacking
    after, which fails when no file is left."""
    makefile = folder / "Makefile"
    makefile.write_text(
        "WGET := wget -q\n"
        # Another recipe first: make passes command-line variables into every recipe's environment.
        "fetch: prepare $(CURDIR)/build/lib/.unpacked $(CURDIR)/build/two/.unpacked\n"
        "prepare:\n"
        "\t@echo preparing\n"
        "$(CURDIR)/build/lib/thing-1.0.tar.gz:\n"
        "\tmkdir -p $(dir $@)\n"
        "\t@printf '  %-7s %s\\n' 'WGET' 'lib: http://127.0.0.1:9/thing-1.0.tar.gz' && "
        "$(WGET) -O $@ http://127.0.0.1:9/thing-1.0.tar.gz || rm -f $@\n"
        "$(CURDIR)/build/two/two.zip:\n"
        "\tmkdir -p $(dir $@)\n"
        "\t$(WGET) -O $@ http://127.0.0.1:9/first/two-1.zip || $(WGET) -O $@ http://127.0.0.1:9/two.zip || rm -f $@\n"
        "%/.unpacked: | %/thing-1.0.tar.gz\n"
        "\ttest -f $| && touch $@\n"
        "$(CURDIR)/build/two/.unpacked: $(CURDIR)/build/two/two.zip\n"
        "\ttest -f $< && touch $@\n"
    )
    return makefile


def fetch_in(tmp_path: Path, archives: Path) -> tuple[downloads.MirrorFetch, subprocess.CompletedProcess[str]]:
    """Run the makefile's fetch as the build runs it with a mirror: WGET is kraftld's script.

    A `wget` on PATH records any call: make must never reach for it."""
    fetch = downloads.plan_fetch(str(tmp_path / "cache"), str(archives), str(tmp_path / "downloads.missing"))
    downloads.prepare(fetch)
    shims = tmp_path / "bin"
    shims.mkdir(exist_ok=True)
    (shims / "wget").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/wget-called\nexit 1\n')
    (shims / "wget").chmod(0o755)
    completed = subprocess.run(
        ["make", "-C", str(tmp_path), "-k", fetch.wget_variable, "fetch"],
        capture_output=True,
        text=True,
        env={"PATH": f"{shims}:/usr/bin:/bin"},
    )
    assert not (tmp_path / "wget-called").exists()
    return fetch, completed


def test_the_build_s_downloads_are_copied_from_the_mirror(tmp_path: Path) -> None:
    fetching_makefile(tmp_path)
    archives = tmp_path / "mirror with spaces" / "archives"  # quoted in the script, not in make's words
    archives.mkdir(parents=True)
    (archives / "thing-1.0.tar.gz").write_bytes(b"the archive")
    (archives / "two.zip").write_bytes(b"the second URL's file")  # fetchas2: the first is not there
    fetch, completed = fetch_in(tmp_path, archives)
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "build" / "lib" / "thing-1.0.tar.gz").read_bytes() == b"the archive"
    assert (tmp_path / "build" / "two" / "two.zip").read_bytes() == b"the second URL's file"
    assert f"kraftld: copied {archives}/thing-1.0.tar.gz to {tmp_path}/build/lib/thing-1.0.tar.gz" in completed.stderr
    # The first URL's file was noted as missing, then the second served: nothing is missing.
    assert downloads.missing(fetch) is None
    assert os.path.dirname(fetch.script) == str(tmp_path / "cache" / "runtime")
    assert fetch.wget_variable == f"WGET={fetch.script} {tmp_path}/downloads.missing"


def test_a_file_the_mirror_lacks_is_named_with_its_url_and_place(tmp_path: Path) -> None:
    fetching_makefile(tmp_path)
    archives = tmp_path / "archives"
    archives.mkdir()
    fetch, completed = fetch_in(tmp_path, archives)
    assert completed.returncode != 0  # the unpacking finds no file: Unikraft's recipe removed it
    assert not (tmp_path / "build" / "lib" / "thing-1.0.tar.gz").exists()
    assert "kraftld: KRAFTLD_SOURCES has no thing-1.0.tar.gz" in completed.stderr
    wanted = downloads.missing(fetch)
    assert wanted == downloads.Missing(
        f"{tmp_path}/build/lib/thing-1.0.tar.gz",
        "http://127.0.0.1:9/thing-1.0.tar.gz",
        f"{archives}/thing-1.0.tar.gz",
    )
    error = wanted.error().render()
    assert (
        "kraftld: error: KRAFTLD_SOURCES has no thing-1.0.tar.gz, which the build would download from "
        "http://127.0.0.1:9/thing-1.0.tar.gz"
    ) in error
    assert f"put the file at {archives}/thing-1.0.tar.gz; kraftld never downloads" in error
    # The next build starts without the old note; the script is kept (named by its text's digest).
    downloads.prepare(fetch)
    assert downloads.missing(fetch) is None and os.access(fetch.script, os.X_OK)


def test_the_script_answers_only_unikraft_s_download_command(tmp_path: Path) -> None:
    fetch = downloads.plan_fetch(str(tmp_path), str(tmp_path / "archives"), str(tmp_path / "note"))
    downloads.prepare(fetch)
    for args in ([], ["--version"], ["-q", "-O", "x", "http://h/x"], ["-O", "x"]):
        completed = subprocess.run([fetch.script, fetch.note, *args], capture_output=True, text=True)
        assert completed.returncode == 2, args
        assert "expects -O DESTINATION URL" in completed.stderr
    assert not os.path.exists(fetch.note)


def test_each_mirror_has_its_own_script() -> None:
    one = downloads.plan_fetch("/c", "/m1/archives", "/c/builds/k/downloads.missing")
    two = downloads.plan_fetch("/c", "/m2/archives", "/c/builds/k/downloads.missing")
    assert one.script != two.script and "archives=/m1/archives\n" in one.text


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
