"""The fast relink is exactly as correct as make: same images, and make whenever in doubt."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from realboot import PROGRAMS, Tools

INFO = {"KRAFTLD_LOG": "info"}


def how(result: subprocess.CompletedProcess[str]) -> str:
    return "fast" if "replaying the final link steps" in result.stderr else "make"


def test_fast_relink_gives_the_same_bytes_as_make(tools: Tools, tmp_path: Path) -> None:
    obj = tools.compile_c(PROGRAMS / "behave.c", tmp_path / "same.o", '-DPROGRAM_NAME="same"')
    by_make = tools.kraftld([str(obj), "-o", str(tmp_path / "by-make")], env={**INFO, "KRAFTLD_FAST_RELINK": "0"})
    assert how(by_make) == "make"
    fast = tools.kraftld([str(obj), "-o", str(tmp_path / "fast")], env=INFO)
    assert how(fast) == "fast", fast.stderr
    assert (tmp_path / "by-make").read_bytes() == (tmp_path / "fast").read_bytes()
    assert (tmp_path / "by-make.dbg").read_bytes() == (tmp_path / "fast.dbg").read_bytes()
    assert tools.run(tmp_path / "fast", ["return", "9"]).returncode == 9


def test_a_changed_unikraft_library_makes_make_relink(tools: Tools, tmp_path: Path) -> None:
    cache = {"KRAFTLD_CACHE": str(tmp_path / "cache")}  # one configuration: one entry to touch
    obj = tools.compile_c(PROGRAMS / "behave.c", tmp_path / "x.o", '-DPROGRAM_NAME="stamp"')
    tools.kraftld([str(obj), "-o", str(tmp_path / "first")], env=cache)
    (record,) = (tmp_path / "cache").glob("builds/*/prebuilt.json")
    library = record.parent / "build" / "libukboot.o"
    os.utime(library)  # as a rebuild of that library would leave it
    relinked = tools.kraftld([str(obj), "-o", str(tmp_path / "second")], env={**cache, **INFO})
    assert how(relinked) == "make"
    assert tools.run(tmp_path / "second").stdout.decode().startswith("program stamp")
    assert how(tools.kraftld([str(obj), "-o", str(tmp_path / "third")], env={**cache, **INFO})) == "fast"


def test_an_edited_unikraft_tree_makes_make_rebuild(tools: Tools, tmp_path: Path) -> None:
    tree = tmp_path / "unikraft"
    subprocess.run(["git", "clone", "-q", "--shared", tools.environ["KRAFTLD_UNIKRAFT"], str(tree)], check=True)
    env = {**INFO, "KRAFTLD_UNIKRAFT": str(tree), "KRAFTLD_CACHE": str(tmp_path / "cache")}
    obj = tools.compile_c(PROGRAMS / "behave.c", tmp_path / "y.o", '-DPROGRAM_NAME="edited"')
    tools.kraftld([str(obj), "-o", str(tmp_path / "a")], env=env)
    assert how(tools.kraftld([str(obj), "-o", str(tmp_path / "b")], env=env)) == "fast"
    weak_main = tree / "lib" / "ukboot" / "weak_main.c"
    weak_main.write_text(weak_main.read_text() + "\n/* edited by a Unikraft developer */\n")
    rebuilt = tools.kraftld([str(obj), "-o", str(tmp_path / "c")], env=env)
    assert how(rebuilt) == "make"
    assert "a source tree changed" in rebuilt.stderr
    assert tools.run(tmp_path / "c").stdout.decode().startswith("program edited")
    assert how(tools.kraftld([str(obj), "-o", str(tmp_path / "d")], env=env)) == "fast"
