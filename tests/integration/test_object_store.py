"""The launcher's object store for real: one option apart, served the objects a build without cache makes.

nolibc builds, each test with its own KRAFTLD_CACHE folders and CCACHE_DIR (the store lives in
ccache's folder). What is compared is every object of the build folder, the image and its .dbg:
a store that served an object gcc would have made differently fails here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from realboot import PROGRAMS, Tools

TCG = {"KRAFTLD_QEMU_ARGS": "-machine accel=tcg -cpu max"}

KRAFTFILE = """\
spec: v0.6
name: app
unikraft:
  kconfig:
    {option}: y
targets:
  - qemu/x86_64
"""


def objects_of(cache: Path) -> dict[str, bytes]:
    (entry,) = (cache / "builds").iterdir()
    build = entry / "build"
    return {
        str(path.relative_to(build)): path.read_bytes()
        for path in build.rglob("*.o")
        if "kconfig" not in path.parts  # the host's kconfig tools
    }


def compiles_of(cache: Path) -> int:
    (entry,) = (cache / "builds").iterdir()
    lines = (entry / "build.log").read_text().splitlines()
    return sum(1 for line in lines if line.split()[:1] in (["CC"], ["AS"]))


def ccache_calls(ccache_dir: Path) -> int:
    """The compiles ccache was asked for so far: each one the store did not serve."""
    out = subprocess.run(
        ["ccache", "--print-stats"], env={"CCACHE_DIR": str(ccache_dir)}, capture_output=True, text=True, check=True
    ).stdout
    stats = {key: int(value) for key, value in (line.split("\t") for line in out.splitlines())}
    return stats["direct_cache_hit"] + stats["preprocessed_cache_hit"] + stats["cache_miss"]


def stored(store: Path) -> int:
    return sum(1 for path in (store / "o").iterdir() if path.suffix == ".o")


@pytest.mark.parametrize(
    ("option", "least_served"),
    [
        # read by one source (bbuddy.c): every other object is served
        ("CONFIG_LIBUKALLOCBBUDDY_FREELIST_SANITY", 0.9),
        # one more library: uklibid numbers the libraries again (uk/bits/libid.h, a table the
        # store compares by what each compile reaches of it: launcher/tables.c), and the new
        # library's own files are compiled
        ("CONFIG_LIBUKALLOCREGION", 0.9),
    ],
)
def test_a_configuration_one_option_apart_is_served_the_objects_a_build_without_cache_makes(
    tools: Tools, tmp_path: Path, option: str, least_served: float
) -> None:
    assert shutil.which("ccache"), "ccache is not installed (Debian: apt-get install ccache)"
    store = tmp_path / "ccache" / "kraftld-objects"
    env = {"CCACHE_DIR": str(tmp_path / "ccache"), "KRAFTLD_CCACHE": "1"}
    obj = tools.compile_c(PROGRAMS / "behave.c", tmp_path / "main.o", '-DPROGRAM_NAME="served"')
    tools.kraftld([str(obj), "-o", str(tmp_path / "first")], env={**env, "KRAFTLD_CACHE": str(tmp_path / "one")})
    assert stored(store) > 50
    asked = ccache_calls(tmp_path / "ccache")

    other = tmp_path / "other"
    other.mkdir()
    (other / "Kraftfile").write_text(KRAFTFILE.format(option=option))
    served_cache, plain_cache = tmp_path / "two", tmp_path / "plain"
    tools.kraftld([str(obj), "-o", str(other / "served")], cwd=other, env={**env, "KRAFTLD_CACHE": str(served_cache)})
    compiles = compiles_of(served_cache)
    served = compiles - (ccache_calls(tmp_path / "ccache") - asked)
    print(f"{option}: {served} of {compiles} compiles served by the store")
    assert served >= least_served * compiles

    # The same configuration with no compiler cache at all: the same objects, the same image.
    tools.kraftld(
        [str(obj), "-o", str(other / "plain")],
        cwd=other,
        env={"KRAFTLD_CCACHE": "0", "KRAFTLD_CACHE": str(plain_cache)},
    )
    got, expected = objects_of(served_cache), objects_of(plain_cache)
    assert got.keys() == expected.keys() and len(got) > 50
    assert [name for name in got if got[name] != expected[name]] == []
    assert (other / "served").read_bytes() == (other / "plain").read_bytes()
    assert (other / "served.dbg").read_bytes() == (other / "plain.dbg").read_bytes()
    result = tools.run(other / "served", ["return", "3"], env=TCG)
    assert result.stdout.decode().startswith("program served") and result.returncode == 3


def test_the_same_configuration_in_a_fresh_cache_is_served_whole(tools: Tools, tmp_path: Path) -> None:
    store = tmp_path / "ccache" / "kraftld-objects"
    env = {"CCACHE_DIR": str(tmp_path / "ccache"), "KRAFTLD_CCACHE": "1"}
    obj = tools.compile_c(PROGRAMS / "behave.c", tmp_path / "main.o", '-DPROGRAM_NAME="fresh"')
    tools.kraftld([str(obj), "-o", str(tmp_path / "first")], env={**env, "KRAFTLD_CACHE": str(tmp_path / "one")})
    filled = stored(store)
    tools.kraftld([str(obj), "-o", str(tmp_path / "again")], env={**env, "KRAFTLD_CACHE": str(tmp_path / "two")})
    # what names the cache entry's own path (libuklibid's build information) is compiled again
    assert stored(store) - filled <= 2
    assert (tmp_path / "again").read_bytes() == (tmp_path / "first").read_bytes()
    assert (tmp_path / "again.dbg").read_bytes() == (tmp_path / "first.dbg").read_bytes()
