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
    # The edited tree keys a build of its own: the unedited tree's build is not reused.
    assert len(list((tmp_path / "cache").glob("builds/*/prebuilt.json"))) == 2
    assert tools.run(tmp_path / "c").stdout.decode().startswith("program edited")
    assert how(tools.kraftld([str(obj), "-o", str(tmp_path / "d")], env=env)) == "fast"


AHEAD = "ran (started before planning)"


def test_a_repeated_line_starts_ahead_and_gives_make_s_bytes(tools: Tools, tmp_path: Path) -> None:
    obj = tmp_path / "loop.o"
    line = [str(obj), "-o", str(tmp_path / "image")]
    tools.compile_c(PROGRAMS / "behave.c", obj, '-DPROGRAM_NAME="before"')
    first = tools.kraftld(line, env={"KRAFTLD_LOG": "debug"})
    assert AHEAD not in first.stderr  # no note yet for this line
    # The edit-build-run loop: the same object file, new contents, the same link line.
    tools.compile_c(PROGRAMS / "behave.c", obj, '-DPROGRAM_NAME="after"')
    second = tools.kraftld(line, env={"KRAFTLD_LOG": "debug"})
    assert second.stderr.count(AHEAD) == 5, second.stderr  # the final steps (boot info takes two)
    assert how(second) == "fast"
    by_make = tools.kraftld([str(obj), "-o", str(tmp_path / "by-make")], env={"KRAFTLD_FAST_RELINK": "0"})
    assert by_make.returncode == 0
    assert (tmp_path / "image").read_bytes() == (tmp_path / "by-make").read_bytes()
    assert (tmp_path / "image.dbg").read_bytes() == (tmp_path / "by-make.dbg").read_bytes()
    assert tools.run(tmp_path / "image").stdout.decode().startswith("program after")
    assert not list(Path(tools.environ["KRAFTLD_CACHE"]).glob("builds/*/links/*"))  # no folder left behind


def test_renamed_inputs_start_ahead_too(tools: Tools, tmp_path: Path) -> None:
    # rustc names its objects anew at every build (a temporary folder, incremental codegen units).
    image = tmp_path / "renamed"
    first = tools.compile_c(PROGRAMS / "behave.c", tmp_path / "main.18m6ac7.rcgu.o", '-DPROGRAM_NAME="one"')
    tools.kraftld([str(first), "-o", str(image)])
    second = tools.compile_c(PROGRAMS / "behave.c", tmp_path / "main.1jyu7mp.rcgu.o", '-DPROGRAM_NAME="two"')
    relinked = tools.kraftld([str(second), "-o", str(image)], env={"KRAFTLD_LOG": "debug"})
    assert relinked.stderr.count(AHEAD) == 5, relinked.stderr
    assert tools.run(image).stdout.decode().startswith("program two")
    by_make = tools.kraftld([str(second), "-o", str(tmp_path / "by-make")], env={"KRAFTLD_FAST_RELINK": "0"})
    assert by_make.returncode == 0
    assert image.read_bytes() == (tmp_path / "by-make").read_bytes()


def test_a_note_that_no_longer_fits_is_dropped(tools: Tools, tmp_path: Path) -> None:
    import marshal

    from kraftld.headstart.note import from_record

    env = {"KRAFTLD_CACHE": str(tmp_path / "cache"), "KRAFTLD_LOG": "debug"}
    obj = tmp_path / "fit.o"
    line = [str(obj), "-o", str(tmp_path / "image")]
    tools.compile_c(PROGRAMS / "behave.c", obj, '-DPROGRAM_NAME="fits"')
    tools.kraftld(line, env=env)
    (note_file,) = (tmp_path / "cache" / "headstart").iterdir()
    note = from_record(marshal.loads(note_file.read_bytes()))
    assert note is not None
    # A step the plan would not run (a stale or tampered note): it starts, and is thrown away.
    steps = list(note.steps)
    steps[1] = ((*steps[1][0], "--strip-debug"), steps[1][1])
    note_file.write_bytes(marshal.dumps(note.replaced(steps=tuple(steps)).record()))
    relinked = tools.kraftld(line, env=env)
    assert "the steps started ahead are not this link's" in relinked.stderr
    assert how(relinked) == "fast"
    assert tools.run(tmp_path / "image").stdout.decode().startswith("program fits")
    # Garbage where the note was: no head start, the same link.
    note_file.write_bytes(b"\x00not a note")
    relinked = tools.kraftld(line, env=env)
    assert AHEAD not in relinked.stderr and how(relinked) == "fast"
    assert tools.run(tmp_path / "image").stdout.decode().startswith("program fits")
