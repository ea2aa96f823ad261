"""Starts a noted fast relink's steps ahead of the plan, and hands them to the plan or stops them.

Processes and the thread are started with os.posix_spawnp and _thread rather than subprocess and
threading: those two imports alone would take the head start longer than everything else it does.
So these steps are the one place of the link where a process starts outside `process.run_process`.
"""

from __future__ import annotations

import _thread
import fcntl
import os

from ..atomic import remove_tree
from ..environment import NO_WORDS, YES_WORDS
from ..layout import INPUTS_DIR, OUTPUTS_DIR
from ..response import expand_response_files
from ..staging import input_path, stage, staged_name
from .note import LINK_DIR_MARK, Note, Step, output_of, read_note

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import IO

    from ..commands import Command
    from ..plan import LinkPlan

_SIGKILL = 9  # the same number on every Linux architecture; `signal` builds enums on import


def guess_staging(note: Note, args: Sequence[str], cwd: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The inputs this line's link would stage, as the note's with the words at the same places
    in this line; and the renamed staged files, old name to new.

    Only a guess: where the line differs otherwise, the plan stages something else, and the
    steps are not adopted.
    """
    staged: list[tuple[str, str]] = []
    renamed: dict[str, str] = {}
    for number, (position, name, target) in enumerate(note.inputs):
        if position >= 0:
            target = input_path(cwd, args[position])
            new_name = staged_name(number, target)
            if new_name != name:
                renamed[name] = new_name
            name = new_name
        staged.append((name, target))
    return staged, renamed


class HeadStart:
    """Steps started ahead of the plan, with their folder and the shared lock they hold."""

    def __init__(self, note: Note, args: Sequence[str], cwd: str, link_dir: str, lock: IO[str]) -> None:
        self.note = note
        self.args = args
        self.cwd = cwd
        self.link_dir = link_dir
        self.staged: list[tuple[str, str]] = []
        self.steps: list[Step] = []
        self.returncodes: list[int] = []
        self._lock: IO[str] | None = lock
        self._pid: int | None = None  # the running step's, until it is reaped
        self._stopped = False
        self._mutex = _thread.allocate_lock()
        self._done = _thread.allocate_lock()

    def start(self) -> None:
        """Stage the inputs as the note and this line say, and start the steps."""
        self.staged, renamed = guess_staging(self.note, self.args, self.cwd)
        inputs = f"{LINK_DIR_MARK}/{INPUTS_DIR}/"
        paths = {inputs + old: inputs + new for old, new in renamed.items()}
        self.steps = [
            (tuple(_renamed(word, paths).replace(LINK_DIR_MARK, self.link_dir) for word in argv), cwd)
            for argv, cwd in self.note.steps
        ]
        stage(os.path.join(self.link_dir, INPUTS_DIR), self.staged)
        os.mkdir(os.path.join(self.link_dir, OUTPUTS_DIR))
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
        return self.note.entry == entry and self.staged == list(staged) and self.steps == list(steps)

    def succeeded(self) -> bool:
        """Wait for the steps; whether every one of them exited with status 0."""
        with self._done:
            return len(self.returncodes) == len(self.steps) and not any(self.returncodes)

    def adopted_by(self, plan: LinkPlan, steps: Sequence[Command]) -> bool:
        """Whether `plan`'s fast relink, which runs `steps` in this folder, takes these steps as
        its own: exactly its commands on exactly its inputs, and all of them succeeded. If not,
        they are stopped."""
        from ..logs import log

        staged = [(os.path.basename(link.link), link.target) for link in plan.staged]
        if not self.fits(plan.entry, staged, [(c.argv, c.cwd or "") for c in steps]):
            log.debug("the steps started ahead are not this link's: stopped")
        elif not self.succeeded():
            log.debug("a step started ahead failed: the steps run again, as they always do")
        else:
            return True
        self.close()
        return False

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
            remove_tree(self.link_dir)
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


def disabled(environ: Mapping[str, str]) -> bool:
    """Whether this environment turns the fast relink (and so its head start) off."""
    # The settings stage rejects values that are neither yes nor no; here, in doubt, no head start.
    dry_run = environ.get("KRAFTLD_DRY_RUN", "").strip().lower() not in NO_WORDS
    no_fast = environ.get("KRAFTLD_FAST_RELINK", "1").strip().lower() not in YES_WORDS
    return dry_run or no_fast


def begin(args: Sequence[str], environ: Mapping[str, str], cwd: str) -> HeadStart | None:
    """Start the steps of this link line's last fast relink, if there is a note of one."""
    if disabled(environ):
        return None
    try:
        expanded = expand_response_files(args)
    except Exception:  # the real pass reports what is wrong with the line
        return None
    output = output_of(expanded)
    if output is None:
        return None
    note = read_note(environ, output, cwd)
    if note is None or note.output != output or note.cwd != cwd or note.length != len(expanded):
        return None  # the inputs' places are the note's only on a line as long
    try:
        lock = open(note.lock, "a+")  # noqa: SIM115 - held by the HeadStart until it is closed
    except OSError:
        return None
    try:
        # A full build holds the lock exclusively and may be rewriting what the steps read.
        fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        # A prune renames an entry away under this lock (cache_prune): a lock no longer at its
        # name is a removed entry's, and making links/ below would leave a stray entry behind.
        if not os.path.samestat(os.fstat(lock.fileno()), os.stat(note.lock)):
            raise FileNotFoundError(note.lock)
        os.makedirs(note.links_dir, exist_ok=True)  # a full build's note comes before any fast relink
        link_dir = os.path.join(note.links_dir, f"{os.getpid()}-{os.urandom(4).hex()}")
        os.mkdir(link_dir)
    except OSError:
        lock.close()
        return None
    head = HeadStart(note, expanded, cwd, link_dir, lock)  # from here on, closing it cleans up
    try:
        head.start()
    except BaseException as error:
        head.close()
        if isinstance(error, (OSError, IndexError, ValueError)):  # a note that no longer fits
            return None
        raise
    return head


def _renamed(word: str, paths: Mapping[str, str]) -> str:
    """A step's word with a renamed staged file's path replaced (alone, or after `-Wl,-T,`)."""
    for old, new in paths.items():
        if word == old or word.endswith("," + old):
            return word[: len(word) - len(old)] + new
    return word
