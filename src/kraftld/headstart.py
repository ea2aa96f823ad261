"""Gives a repeated fast relink a head start: its steps start before kraftld has planned.

A fast relink replays Unikraft's recorded final link steps (`relink`); importing kraftld and
planning the link take Python tens of milliseconds more, which on a small program is as long as
the steps themselves. In the edit-build-run loop the same link comes again and again: the same
output from the same folder, with the same words but for the inputs' names (rustc names its
objects anew at every build). So a fast relink leaves a note, under the cache, of the line it
served and of the steps it ran; when a link to the same output comes from the same folder,
kraftld starts those steps at once, one after the other in a thread, in a link folder of its own
with this line's inputs staged where the note had its inputs, and meanwhile imports and plans as
always. The fast relink adopts what ran ahead only if the plan would have run exactly those
commands, in that folder, on exactly those staged inputs, after the checks every fast relink
makes; otherwise the steps are stopped and their folder removed, and the link goes on as if
nothing had started. The note is a guess: it decides nothing the plan does not check.

This module runs before the rest of kraftld is imported, so it imports little: no dataclasses.
"""

from __future__ import annotations

import _thread
import fcntl
import marshal
import os
import zlib

from .environment import NO_WORDS, YES_WORDS, cache_dir
from .response import expand_response_files
from .staging import input_path, staged_name

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

NOTE_FORMAT = 2
# Notes are kraftld's private cache files, written in marshal's format rather than JSON: importing
# json (and the re module it needs) would cost the head start a third of its time. A note another
# Python version wrote may not load: that link then has no head start, nothing worse.

# Stands for the link folder in a note's command: no path or argument can hold a NUL.
LINK_DIR_MARK = "\0"


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
    return os.path.join(cache_dir(environ), "headstart", f"{zlib.crc32(key):08x}")


def guess_staging(note: Mapping[str, Any], args: Sequence[str], cwd: str) -> tuple[list[list[str]], dict[str, str]]:
    """The inputs this line's link would stage, as the note's with the words at the same places
    in this line; and the renamed staged files, old name to new.

    Only a guess: where the line differs otherwise, the plan stages something else, and the
    steps are not adopted.
    """
    staged: list[list[str]] = []
    renamed: dict[str, str] = {}
    for position, (index, name, target) in enumerate(note["inputs"]):
        if index >= 0:
            target = input_path(cwd, args[index])
            new_name = staged_name(position, target)
            if new_name != name:
                renamed[name] = new_name
            name = new_name
        staged.append([name, target])
    return staged, renamed


def _disabled(environ: Mapping[str, str]) -> bool:
    # The settings stage rejects values that are neither yes nor no; here, in doubt, no head start.
    dry_run = environ.get("KRAFTLD_DRY_RUN", "").strip().lower() not in NO_WORDS
    no_fast = environ.get("KRAFTLD_FAST_RELINK", "1").strip().lower() not in YES_WORDS
    return dry_run or no_fast


Step = tuple[tuple[str, ...], str]  # (argv, cwd)

# Processes and the thread are started with os.posix_spawnp and _thread rather than subprocess and
# threading: those two imports alone would take the head start longer than everything else it does.
_SIGKILL = 9  # the same number on every Linux architecture; `signal` builds enums on import


class HeadStart:
    """Steps started ahead of the plan, with their folder and the shared lock they hold."""

    def __init__(self, note: dict[str, Any], args: Sequence[str], cwd: str, link_dir: str, lock: Any) -> None:
        self.note = note
        self.args = args
        self.cwd = cwd
        self.link_dir = link_dir
        self.staged: list[tuple[str, str]] = []
        self.steps: list[Step] = []
        self.returncodes: list[int] = []
        self._lock = lock
        self._pid: int | None = None  # the running step's, until it is reaped
        self._stopped = False
        self._mutex = _thread.allocate_lock()
        self._done = _thread.allocate_lock()

    def start(self) -> None:
        """Stage the inputs as the note and this line say, and start the steps."""
        staged, renamed = guess_staging(self.note, self.args, self.cwd)
        inputs = f"{LINK_DIR_MARK}/{self.note['inputs_dir']}/"
        paths = {inputs + old: inputs + new for old, new in renamed.items()}
        self.staged = [(name, target) for name, target in staged]
        self.steps = [
            (tuple(_renamed(word, paths).replace(LINK_DIR_MARK, self.link_dir) for word in argv), cwd)
            for argv, cwd in self.note["steps"]
        ]
        _stage(self.note, self.staged, self.link_dir)
        self._done.acquire()
        _thread.start_new_thread(self._run, ())

    def _run(self) -> None:
        # The thread waits for its children without holding the interpreter: the steps run while
        # the main thread imports and plans.
        try:
            for index, (argv, cwd) in enumerate(self.steps):
                with self._mutex:
                    if self._stopped:
                        return
                    try:
                        pid = self._pid = _spawn(argv, cwd, os.path.join(self.link_dir, f"step{index}.log"))
                    except OSError:
                        self.returncodes.append(127)
                        return
                # Wait without reaping, so `close` never signals a process id already reused.
                os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
                with self._mutex:
                    _, status = os.waitpid(pid, 0)
                    self._pid = None
                self.returncodes.append(os.waitstatus_to_exitcode(status))
                if self.returncodes[-1] != 0:
                    return
        finally:
            self._done.release()

    def fits(self, entry: str, staged: Sequence[tuple[str, str]], steps: Sequence[Step]) -> bool:
        """Whether the plan would have staged these inputs and run these very commands."""
        return self.note["entry"] == entry and self.staged == list(staged) and self.steps == list(steps)

    def succeeded(self) -> bool:
        """Wait for the steps; whether every one of them exited with status 0."""
        with self._done:
            return len(self.returncodes) == len(self.steps) and not any(self.returncodes)

    def close(self) -> None:
        """Stop the steps if they still run, remove their folder, release the lock. Idempotent."""
        with self._mutex:
            self._stopped = True
            if self._pid is not None:
                try:  # noqa: SIM105 - contextlib is not imported here, for start-up's sake
                    os.killpg(self._pid, _SIGKILL)  # it writes only in its own folder
                except ProcessLookupError:
                    pass
        with self._done:
            pass
        if self._lock is not None:
            _remove_tree(self.link_dir)
            self._lock.close()  # closing the file releases its flock
            self._lock = None


def _spawn(argv: Sequence[str], cwd: str, log_path: str) -> int:
    """Start a step as the process runner starts a short one: a session of its own, no input,
    its output captured in a file. (posix_spawn cannot change folder: env(1) does.)"""
    return os.posix_spawnp(
        "env",
        ["env", "-C", cwd, "--", *argv],
        os.environ,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )


def begin(args: Sequence[str], environ: Mapping[str, str], cwd: str) -> HeadStart | None:
    """Start the steps of this link line's last fast relink, if there is a note of one."""
    if _disabled(environ):
        return None
    try:
        expanded = expand_response_files(args)
    except Exception:  # the real pass reports what is wrong with the line
        return None
    output = output_of(expanded)
    if output is None:
        return None
    try:
        with open(note_path(environ, output, cwd), "rb") as handle:
            note = marshal.load(handle)
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not (
        isinstance(note, dict)
        and note.get("format") == NOTE_FORMAT
        and note.get("output") == output
        and note.get("cwd") == cwd
        and note.get("length") == len(expanded)  # the inputs' places are the note's
    ):
        return None
    try:
        lock = open(note["lock"], "a+")  # noqa: SIM115 - held by the HeadStart until it is closed
    except (OSError, KeyError, TypeError):
        return None
    try:
        # A full build holds the lock exclusively and may be rewriting what the steps read.
        fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        os.makedirs(note["links_dir"], exist_ok=True)  # a full build's note comes before any fast relink
        link_dir = os.path.join(note["links_dir"], f"{os.getpid()}-{os.urandom(4).hex()}")
        os.mkdir(link_dir)
    except (OSError, KeyError, TypeError):
        lock.close()
        return None
    head = HeadStart(note, expanded, cwd, link_dir, lock)  # from here on, closing it cleans up
    try:
        head.start()
    except BaseException as error:
        head.close()
        if isinstance(error, (OSError, KeyError, TypeError, ValueError)):  # a note that no longer fits
            return None
        raise
    return head


def _renamed(word: str, paths: Mapping[str, str]) -> str:
    """A step's word with a renamed staged file's path replaced (alone, or after `-Wl,-T,`)."""
    for old, new in paths.items():
        if word == old or word.endswith("," + old):
            return word[: len(word) - len(old)] + new
    return word


def _stage(note: Mapping[str, Any], staged: Sequence[tuple[str, str]], link_dir: str) -> None:
    inputs = os.path.join(link_dir, note["inputs_dir"])
    os.mkdir(inputs)
    os.mkdir(os.path.join(link_dir, note["outputs_dir"]))
    for name, target in staged:
        if not os.path.exists(target):
            raise FileNotFoundError(target)
        os.symlink(target, os.path.join(inputs, name))


def remember(environ: Mapping[str, str], args: Sequence[str], cwd: str, note: Mapping[str, object]) -> None:
    """Leave a note for the next link to this output from this folder (rewritten only when it
    changed).

    `note["inputs"]` lists each staged file as (its word's index in `args` or -1, name, path).
    A note that cannot be written (a full disk) costs the next link its head start, nothing more.
    """
    output = output_of(args)
    if output is None:
        return
    path = note_path(environ, output, cwd)
    full = {"format": NOTE_FORMAT, "output": output, "cwd": cwd, "length": len(args), **note}
    try:
        with open(path, "rb") as handle:
            if marshal.load(handle) == full:
                return
    except (OSError, ValueError, EOFError, TypeError):
        pass
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "wb") as handle:
            marshal.dump(full, handle)
        os.replace(temporary, path)
    except OSError:
        _quietly(os.unlink, temporary)


def _remove_tree(path: str) -> None:
    """Remove a link folder: files, symbolic links and folders (shutil is not imported yet)."""
    for folder, dirs, files in os.walk(path, topdown=False):
        for name in files:
            _quietly(os.unlink, os.path.join(folder, name))
        for name in dirs:
            child = os.path.join(folder, name)
            _quietly(os.unlink if os.path.islink(child) else os.rmdir, child)
    _quietly(os.rmdir, path)


def _quietly(remove: Callable[[str], None], path: str) -> None:
    try:  # noqa: SIM105 - contextlib is not imported here, for start-up's sake
        remove(path)
    except OSError:
        pass
