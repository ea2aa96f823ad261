"""The build cache for real: its size bound, a pruned configuration (and clone) built again, and ccache.

nolibc builds in caches of the tests' own (each test its own KRAFTLD_CACHE and CCACHE_DIR), so
what is removed or shared is only what the test made. Builds that ccache serves are still
Unikraft's make: the images must be byte for byte those of a build without ccache.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path

from realboot import PROGRAMS, Tools

# Boots under TCG: what these tests check is the build, and a host whose KVM aborts on the first
# boot (as this project's build machines do) must not decide it. QEMU takes the last -machine/-cpu.
TCG = {"KRAFTLD_QEMU_ARGS": "-machine accel=tcg -cpu max"}

# One Kconfig option apart from kraftld's default configuration: one more library, which no other source reads.
OTHER_KRAFTFILE = """\
spec: v0.6
name: app
unikraft:
  kconfig:
    CONFIG_LIBUKALLOCREGION: y
targets:
  - qemu/x86_64
"""


def ccache_stats(ccache_dir: Path) -> dict[str, int]:
    out = subprocess.run(
        ["ccache", "--print-stats"], env={"CCACHE_DIR": str(ccache_dir)}, capture_output=True, text=True, check=True
    ).stdout
    return {key: int(value) for key, value in (line.split("\t") for line in out.splitlines())}


def hits(stats: dict[str, int]) -> int:
    return stats["direct_cache_hit"] + stats["preprocessed_cache_hit"]


def entries(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "builds").iterdir() if not p.name.startswith("."))


def test_a_bounded_cache_spares_what_is_in_use_and_a_pruned_build_comes_back_the_same(
    tools: Tools, tmp_path: Path
) -> None:
    assert shutil.which("ccache"), "ccache is not installed (Debian: apt-get install ccache)"
    cache, store = tmp_path / "cache", tmp_path / "ccache"
    # ccache alone (KRAFTLD_OBJECTS=0): its hits are what this test counts (test_object_store.py: the store)
    env = {
        "KRAFTLD_CACHE": str(cache),
        "CCACHE_DIR": str(store),
        "KRAFTLD_CCACHE": "1",
        "KRAFTLD_OBJECTS": "0",
        "KRAFTLD_LOG": "info",
    }
    obj = tools.compile_c(PROGRAMS / "behave.c", tmp_path / "main.o", '-DPROGRAM_NAME="pruned"')
    first = tools.kraftld([str(obj), "-o", str(tmp_path / "first")], env=env)
    assert "with make" in first.stderr
    (default_entry,) = entries(cache)
    first_built = ccache_stats(store)
    assert first_built["cache_miss"] > 50 and hits(first_built) == 0

    # A second configuration, one option apart, in a cache bounded to (almost) nothing, while a
    # link holds the first entry (as a fast relink or a head start does): the first survives.
    other = tmp_path / "other"
    other.mkdir()
    (other / "Kraftfile").write_text(OTHER_KRAFTFILE)
    with open(default_entry / "lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        tools.kraftld([str(obj), "-o", str(other / "image")], cwd=other, env={**env, "KRAFTLD_CACHE_MAX": "1"})
    assert default_entry.exists() and len(entries(cache)) == 2
    second_built = ccache_stats(store)
    # Most of its compiles came from the first configuration's (only the option's users differ).
    new_hits = hits(second_built) - hits(first_built)
    new_misses = second_built["cache_miss"] - first_built["cache_miss"]
    print(f"second configuration: {new_hits} ccache hits, {new_misses} misses")
    assert new_hits > 2 * new_misses
    assert tools.run(other / "image", env=TCG).stdout.decode().startswith("program pruned")

    # Nothing in use now: an explicit prune to the bound removes every build.
    pruned = tools.kraftld(["--prune-cache"], env={**env, "KRAFTLD_CACHE_MAX": "1"})
    assert f"removed {default_entry}" in pruned.stdout
    assert entries(cache) == []

    # The pruned configuration builds again, from ccache, and gives the same bytes.
    again = tools.kraftld([str(obj), "-o", str(tmp_path / "again")], env=env)
    assert "with make" in again.stderr
    assert hits(ccache_stats(store)) - hits(second_built) > 50
    assert (tmp_path / "again").read_bytes() == (tmp_path / "first").read_bytes()
    assert (tmp_path / "again.dbg").read_bytes() == (tmp_path / "first.dbg").read_bytes()
    result = tools.run(tmp_path / "again", ["return", "7"], env=TCG)
    assert result.stdout.decode().startswith("program pruned") and result.returncode == 7

    # And without ccache, the same bytes again.
    shutil.rmtree(cache / "builds")
    plain = tools.kraftld([str(obj), "-o", str(tmp_path / "plain")], env={**env, "KRAFTLD_CCACHE": "0"})
    assert "with make" in plain.stderr
    assert (tmp_path / "plain").read_bytes() == (tmp_path / "first").read_bytes()
    assert (tmp_path / "plain.dbg").read_bytes() == (tmp_path / "first.dbg").read_bytes()


def test_a_pruned_clone_and_its_notes_come_back_on_the_next_link(tools: Tools, tmp_path: Path) -> None:
    """Unikraft named by URL (the test tree's own, as a file:// URL: no network), so kraftld clones
    it into the cache's sources/. While its build is kept the clone stays, however small the bound;
    once the build has gone, the clone and the notes of that build go too, and the next link clones
    again, builds again and gives the same bytes."""
    tree = Path(tools.environ["KRAFTLD_UNIKRAFT"]).resolve()
    assert (tree / ".git").exists(), f"the test tree {tree} is not a git checkout: kraftld clones only git URLs"
    cache, store, app = tmp_path / "cache", tmp_path / "ccache", tmp_path / "app"
    app.mkdir()
    (app / "Kraftfile").write_text(
        f"spec: v0.6\nname: app\nunikraft:\n  source: file://{tree}\ntargets:\n  - qemu/x86_64\n"
    )
    env = {"KRAFTLD_UNIKRAFT": "", "KRAFTLD_CACHE": str(cache), "CCACHE_DIR": str(store), "KRAFTLD_LOG": "info"}
    obj = tools.compile_c(PROGRAMS / "behave.c", tmp_path / "main.o", '-DPROGRAM_NAME="cloned"')

    def link(name: str) -> str:
        return tools.kraftld([str(obj), "-o", str(tmp_path / name)], cwd=app, env=env).stderr

    assert "with make" in link("first")
    (clone,) = [p for p in (cache / "sources").iterdir() if p.is_dir()]
    (entry,) = entries(cache)
    assert json.loads((entry / "prebuilt.json").read_text())["trees"][0][0] == str(clone)
    assert list((cache / "headstart").iterdir()), "the link left its head start a note"

    # The build in use (a link holds its lock): the clone it points into stays, the rest goes.
    with open(entry / "lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        held = tools.kraftld(["--prune-cache"], env={**env, "KRAFTLD_CACHE_MAX": "1"}).stdout
    print(held)
    assert f"kept {entry} " in held and f"kept {clone} " in held and f"the build {entry} needs it" in held
    assert clone.is_dir() and entry.is_dir()

    # Nothing in use: the build goes, then the clone it needed, and the notes of the build.
    pruned = tools.kraftld(["--prune-cache"], env={**env, "KRAFTLD_CACHE_MAX": "1"}).stdout
    print(pruned)
    assert f"removed {entry} " in pruned and f"removed {clone} " in pruned
    assert not clone.exists() and entries(cache) == []
    assert not [p for p in (cache / "sources").iterdir() if p.is_dir()]
    assert not list((cache / "headstart").iterdir())

    # The next link clones it again, at the same place, builds the same configuration again and
    # gives the same bytes; the link after that relinks fast from the new build.
    assert "with make" in link("again")
    assert clone.is_dir() and entries(cache) == [entry] and list((cache / "headstart").iterdir())
    assert (tmp_path / "again").read_bytes() == (tmp_path / "first").read_bytes()
    assert (tmp_path / "again.dbg").read_bytes() == (tmp_path / "first.dbg").read_bytes()
    assert "replaying the final link steps" in link("third")
    result = tools.run(tmp_path / "third", ["return", "5"], env=TCG)
    assert result.stdout.decode().startswith("program cloned") and result.returncode == 5
