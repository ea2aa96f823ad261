"""The head start's note: what a fast relink leaves for the next link like it, found by its line.

A note is kraftld's private cache file, written in marshal's format rather than JSON: importing
json (and the re module it needs) would cost the head start a third of its time. A note another
Python version (or kraftld) wrote may not load: that link then has no head start, nothing worse.
"""

from __future__ import annotations

import marshal
import os
import zlib

from ..atomic import write_atomically
from ..environment import cache_dir
from ..layout import NOTE_FORMAT, CacheLayout

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from ..commands import Command
    from ..plan import LinkPlan

# Stands for the link folder in a note's command: no path or argument can hold a NUL.
LINK_DIR_MARK = "\0"

NoteInput = tuple[int, str, str]  # (its word's index on the line or -1, staged name, file)
Step = tuple[tuple[str, ...], str]  # (argv, cwd)


class Note:
    """A fast relink's line and steps, read-only (not a dataclass: this module runs before
    kraftld imports dataclasses, which alone would cost more than the head start saves)."""

    __slots__ = ("cwd", "entry", "inputs", "length", "links_dir", "lock", "output", "steps")
    output: str  # the line's -o word
    cwd: str  # the folder the link ran in
    length: int  # the number of words on the (expanded) line
    entry: str  # the cache entry's folder
    lock: str  # the entry's lock file
    links_dir: str  # where fast relinks make their folders
    inputs: tuple[NoteInput, ...]  # each staged file, in the plan's order
    steps: tuple[Step, ...]  # the final steps, the link folder as LINK_DIR_MARK

    def __init__(
        self,
        *,
        output: str,
        cwd: str,
        length: int,
        entry: str,
        lock: str,
        links_dir: str,
        inputs: tuple[NoteInput, ...],
        steps: tuple[Step, ...],
    ) -> None:
        values = {"output": output, "cwd": cwd, "length": length, "entry": entry, "lock": lock}
        values.update(links_dir=links_dir, inputs=inputs, steps=steps)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def replaced(self, **changes: Any) -> Note:
        """This note with some fields changed (as dataclasses.replace)."""
        return Note(**{name: changes.get(name, getattr(self, name)) for name in _FIELDS})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Note is read-only: {name}")

    def record(self) -> tuple[int, str, str, int, str, str, str, tuple[NoteInput, ...], tuple[Step, ...]]:
        """The note as plain values, in the order `from_record` reads them."""
        return (
            NOTE_FORMAT,
            self.output,
            self.cwd,
            self.length,
            self.entry,
            self.lock,
            self.links_dir,
            self.inputs,
            self.steps,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Note) and self.record() == other.record()

    def __hash__(self) -> int:
        return hash(self.record())

    def __repr__(self) -> str:
        return f"Note({', '.join(f'{name}={getattr(self, name)!r}' for name in _FIELDS)})"


_FIELDS = ("output", "cwd", "length", "entry", "lock", "links_dir", "inputs", "steps")


def from_record(data: object) -> Note | None:
    """The note a record holds, or None when it is not one of this format."""
    if not (isinstance(data, tuple) and len(data) == 1 + len(_FIELDS) and data[0] == NOTE_FORMAT):
        return None
    try:
        output, cwd, entry, lock, links_dir = (_text(data[i]) for i in (1, 2, 4, 5, 6))
        length, inputs, steps = data[3], data[7], data[8]
        if not (isinstance(length, int) and isinstance(inputs, tuple) and isinstance(steps, tuple)):
            return None
        return Note(
            output=output,
            cwd=cwd,
            length=length,
            entry=entry,
            lock=lock,
            links_dir=links_dir,
            inputs=tuple(_input(item) for item in inputs),
            steps=tuple(_step(step) for step in steps),
        )
    except ValueError:
        return None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(value)
    return value


def _input(item: object) -> NoteInput:
    if not (isinstance(item, tuple) and len(item) == 3 and isinstance(item[0], int)):
        raise ValueError(item)
    return (item[0], _text(item[1]), _text(item[2]))


def _step(step: object) -> Step:
    if not (isinstance(step, tuple) and len(step) == 2 and isinstance(step[0], tuple)):
        raise ValueError(step)
    return (tuple(_text(word) for word in step[0]), _text(step[1]))


def output_of(args: Sequence[str]) -> str | None:
    """The `-o` word of a link line (gcc takes the last), found without parsing the line."""
    output = None
    for index, word in enumerate(args):
        if word == "-o" and index + 1 < len(args):
            output = args[index + 1]
        elif word.startswith("-o") and len(word) > 2:
            output = word[2:]
    return output


def note_path(environ: Mapping[str, str], output: str, cwd: str) -> str:
    # A note is found by the output and the folder: rustc's inputs have new names at every
    # build (a temporary folder, incremental codegen units). The note holds both and they are
    # compared in full.
    key = f"{output}\0{cwd}".encode("utf-8", "surrogateescape")
    return CacheLayout(cache_dir(environ)).note(f"{zlib.crc32(key):08x}")


def note_for(plan: LinkPlan, steps: Sequence[Command], args: Sequence[str], cwd: str) -> Note | None:
    """The note that lets the next link of this line start its fast relink's `steps` ahead (as
    `execute.replay.steps_for` gives them for the link folder LINK_DIR_MARK)."""
    output = output_of(args)
    if output is None:
        return None
    return Note(
        output=output,
        cwd=cwd,
        length=len(args),
        entry=plan.entry,
        lock=plan.paths.lock,
        links_dir=plan.paths.links,
        inputs=tuple((staged.position, os.path.basename(staged.link), staged.target) for staged in plan.staged),
        steps=tuple((step.argv, step.cwd or "") for step in steps),
    )


def read_note(environ: Mapping[str, str], output: str, cwd: str) -> Note | None:
    try:
        with open(note_path(environ, output, cwd), "rb") as handle:
            return from_record(marshal.load(handle))
    except (OSError, ValueError, EOFError, TypeError):
        return None


def remember(environ: Mapping[str, str], note: Note) -> None:
    """Leave a note for the next link to its output from its folder (rewritten only when it
    changed). A note that cannot be written (a full disk) costs the next link its head start."""
    if read_note(environ, note.output, note.cwd) == note:
        return
    path = note_path(environ, note.output, note.cwd)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomically(path, marshal.dumps(note.record()))
    except OSError:
        pass
