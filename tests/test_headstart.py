"""The head start: notes found by their line, steps run ahead in their own folder, and dropped
whenever anything is off. Real processes (sh, sleep), a fake cache entry; no Unikraft tree."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Any

import pytest

from kraftld import cache_prune, headstart
from kraftld.headstart import LINK_DIR_MARK, HeadStart, Note


def make_note(entry: Path, target: Path, steps: list[list[Any]]) -> dict[str, Any]:
    """A note's fields but those of its line (output, folder, length: see `remember`)."""
    (entry / "links").mkdir(parents=True, exist_ok=True)
    return {
        "entry": str(entry),
        "lock": str(entry / "lock"),
        "links_dir": str(entry / "links"),
        "inputs": [[0, "0000-main.o", str(target)]],
        "steps": steps,
    }


def remember(environ: dict[str, str], args: list[str], cwd: str, fields: dict[str, Any]) -> None:
    """Leave the note of `fields` for the link line `args` run in `cwd`."""
    output = headstart.output_of(args)
    assert output is not None
    note = Note(
        output=output,
        cwd=cwd,
        length=len(args),
        entry=fields["entry"],
        lock=fields["lock"],
        links_dir=fields["links_dir"],
        inputs=tuple((position, name, target) for position, name, target in fields["inputs"]),
        steps=tuple((tuple(argv), folder) for argv, folder in fields["steps"]),
    )
    headstart.remember(environ, note)


@pytest.fixture
def setting(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    target = tmp_path / "main.o"
    target.write_bytes(b"object")
    return {"KRAFTLD_CACHE": str(tmp_path / "cache")}, tmp_path / "cache" / "builds" / "k", target


def line(target: Path) -> list[str]:
    return [str(target), "-o", "image"]


def started(environ: dict[str, str], entry: Path, target: Path, steps: list[list[Any]]) -> HeadStart:
    remember(environ, line(target), "/work", make_note(entry, target, steps))
    head = headstart.begin(line(target), environ, "/work")
    assert head is not None
    return head


def test_the_steps_run_in_a_folder_of_their_own(setting: tuple[dict[str, str], Path, Path]) -> None:
    environ, entry, target = setting
    write = ["sh", "-c", 'cat "$0" > "$1"', f"{LINK_DIR_MARK}/inputs/0000-main.o", f"{LINK_DIR_MARK}/outputs/copy"]
    head = started(environ, entry, target, [[write, str(entry)], [["true"], str(entry)]])
    link_dir = Path(head.link_dir)
    assert link_dir.parent == entry / "links"
    assert head.succeeded()
    assert (link_dir / "outputs" / "copy").read_bytes() == b"object"
    assert os.readlink(link_dir / "inputs" / "0000-main.o") == str(target)
    real_steps = [(tuple(w.replace(LINK_DIR_MARK, head.link_dir) for w in write), str(entry)), (("true",), str(entry))]
    assert head.fits(str(entry), [("0000-main.o", str(target))], real_steps)
    assert not head.fits(str(entry), [("0000-main.o", "/elsewhere.o")], real_steps)
    assert not head.fits(str(entry), [("0000-main.o", str(target))], real_steps[:1])
    assert not head.fits(str(entry / "other"), [("0000-main.o", str(target))], real_steps)
    head.close()
    assert not link_dir.exists()
    with open(entry / "lock", "a+") as lock:  # released: a full build may take it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_the_steps_run_in_the_recorded_folder(setting: tuple[dict[str, str], Path, Path]) -> None:
    environ, entry, target = setting
    head = started(environ, entry, target, [[["sh", "-c", 'pwd > "$0"', f"{LINK_DIR_MARK}/outputs/pwd"], "/tmp"]])
    assert head.succeeded()
    assert (Path(head.link_dir) / "outputs" / "pwd").read_text().strip() == "/tmp"
    head.close()


@pytest.mark.parametrize(
    "steps",
    [
        [[["false"], "/"]],
        [[["true"], "/"], [["sh", "-c", "exit 3"], "/"], [["true"], "/"]],
        [[["kraftld-no-such-program"], "/"]],
        [[["true"], "/no/such/folder"]],
    ],
)
def test_a_failed_step_is_not_success(setting: tuple[dict[str, str], Path, Path], steps: list[list[Any]]) -> None:
    environ, entry, target = setting
    head = started(environ, entry, target, steps)
    assert not head.succeeded()
    head.close()


def test_close_stops_a_running_step(setting: tuple[dict[str, str], Path, Path]) -> None:
    environ, entry, target = setting
    head = started(environ, entry, target, [[["sleep", "60"], "/"], [["touch", "/never"], "/"]])
    began = time.monotonic()
    head.close()
    assert time.monotonic() - began < 30  # stopped, not waited for
    assert not Path(head.link_dir).exists()
    assert not head.succeeded()


def test_a_note_is_rewritten_only_when_it_changed(setting: tuple[dict[str, str], Path, Path]) -> None:
    environ, entry, target = setting
    note = make_note(entry, target, [[["true"], "/"]])
    remember(environ, line(target), "/work", note)
    path = Path(headstart.note_path(environ, "image", "/work"))
    os.utime(path, ns=(1, 1))
    remember(environ, line(target), "/work", note)
    assert path.stat().st_mtime_ns == 1
    remember(environ, line(target), "/work", {**note, "steps": [[["false"], "/"]]})
    assert path.stat().st_mtime_ns != 1


def no_head(environ: dict[str, str], entry: Path, target: Path) -> None:
    assert headstart.begin(line(target), environ, "/work") is None
    assert not list((entry / "links").glob("*"))


@pytest.mark.parametrize(
    "variable",
    [{"KRAFTLD_DRY_RUN": "1"}, {"KRAFTLD_FAST_RELINK": "0"}, {"KRAFTLD_FAST_RELINK": "maybe"}],
)
def test_no_head_start_when_fast_relinks_are_off(
    setting: tuple[dict[str, str], Path, Path], variable: dict[str, str]
) -> None:
    environ, entry, target = setting
    remember(environ, line(target), "/work", make_note(entry, target, [[["true"], "/"]]))
    no_head({**environ, **variable}, entry, target)


def test_no_head_start_for_another_output_folder_or_length(setting: tuple[dict[str, str], Path, Path]) -> None:
    environ, entry, target = setting
    remember(environ, line(target), "/work", make_note(entry, target, [[["true"], "/"]]))
    assert headstart.begin([str(target), "-o", "other"], environ, "/work") is None
    assert headstart.begin(line(target), environ, "/elsewhere") is None
    assert headstart.begin([*line(target), "-lm"], environ, "/work") is None  # the inputs' places moved
    # A note found by its name but written for another output (as a name clash would have it).
    other = Path(headstart.note_path(environ, "other", "/work"))
    other.write_bytes(Path(headstart.note_path(environ, "image", "/work")).read_bytes())
    assert headstart.begin([str(target), "-o", "other"], environ, "/work") is None


def test_renamed_inputs_are_staged_under_their_new_names(setting: tuple[dict[str, str], Path, Path]) -> None:
    # rustc's objects change names at every build: the note's places take the new words.
    environ, entry, target = setting
    copy = ["sh", "-c", 'cat "$0" > "$1"', f"{LINK_DIR_MARK}/inputs/0000-main.o", f"{LINK_DIR_MARK}/outputs/copy"]
    remember(environ, line(target), "/work", make_note(entry, target, [[copy, "/"]]))
    renamed = target.with_name("main.1jyu7mp.rcgu.o")
    renamed.write_bytes(b"renamed object")
    head = headstart.begin(line(renamed), environ, "/work")
    assert head is not None
    assert head.staged == [("0000-main.1jyu7mp.rcgu.o", str(renamed))]
    assert head.steps[0][0][3] == f"{head.link_dir}/inputs/0000-main.1jyu7mp.rcgu.o"
    assert head.succeeded()
    assert (Path(head.link_dir) / "outputs" / "copy").read_bytes() == b"renamed object"
    head.close()


def test_an_input_that_is_no_word_of_the_line_stays(setting: tuple[dict[str, str], Path, Path]) -> None:
    environ, entry, target = setting
    library = target.with_name("libfoo.a")  # found by -lfoo: no word names it
    library.write_bytes(b"!<arch>\n")
    note = make_note(entry, target, [[["true"], "/"]])
    note["inputs"] = [[0, "0000-main.o", str(target)], [-1, "0001-libfoo.a", str(library)]]
    remember(environ, [*line(target), "-lfoo"], "/work", note)
    head = headstart.begin([*line(target), "-lfoo"], environ, "/work")
    assert head is not None
    assert head.staged == [("0000-main.o", str(target)), ("0001-libfoo.a", str(library))]
    head.close()


@pytest.mark.parametrize("content", [b"", b"\x00garbage", b"\xe9" * 100])
def test_a_damaged_note_is_no_note(setting: tuple[dict[str, str], Path, Path], content: bytes) -> None:
    environ, entry, target = setting
    remember(environ, line(target), "/work", make_note(entry, target, [[["true"], "/"]]))
    Path(headstart.note_path(environ, "image", "/work")).write_bytes(content)
    no_head(environ, entry, target)


def test_no_head_start_while_a_full_build_holds_the_lock(setting: tuple[dict[str, str], Path, Path]) -> None:
    environ, entry, target = setting
    remember(environ, line(target), "/work", make_note(entry, target, [[["true"], "/"]]))
    with open(entry / "lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        no_head(environ, entry, target)


def test_no_head_start_when_an_input_is_gone(setting: tuple[dict[str, str], Path, Path]) -> None:
    environ, entry, target = setting
    remember(environ, line(target), "/work", make_note(entry, target, [[["true"], "/"]]))
    target.unlink()
    no_head(environ, entry, target)
    with open(entry / "lock", "a+") as lock:  # and the lock was released
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_response_file_line_finds_its_note(setting: tuple[dict[str, str], Path, Path], tmp_path: Path) -> None:
    environ, entry, target = setting
    remember(environ, line(target), "/work", make_note(entry, target, [[["true"], "/"]]))
    response = tmp_path / "args"  # rustc's file has a new name every time; its contents count
    response.write_text("\n".join(line(target)) + "\n")
    head = headstart.begin([f"@{response}"], environ, "/work")
    assert head is not None
    head.close()


@pytest.mark.parametrize("when", ["before the head start", "between its open and its lock"])
def test_no_head_start_on_a_pruned_entry_and_no_stray_entry_left(
    setting: tuple[dict[str, str], Path, Path], monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """The cache bound removes an entry by renaming it away under its lock (cache_prune)."""
    environ, entry, target = setting
    remember(environ, line(target), "/work", make_note(entry, target, [[["true"], "/"]]))
    (entry / "lock").touch()
    if when == "before the head start":
        assert cache_prune.remove_entry(str(entry))
    else:
        real = fcntl.flock

        def prune_first(handle: Any, mode: int) -> None:
            monkeypatch.setattr(fcntl, "flock", real)
            assert cache_prune.remove_entry(str(entry))  # takes the lock first, renames, releases
            real(handle, mode)

        monkeypatch.setattr(fcntl, "flock", prune_first)
    assert headstart.begin(line(target), environ, "/work") is None
    assert not entry.exists()
