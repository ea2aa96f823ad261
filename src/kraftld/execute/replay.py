"""The fast relink's record: Unikraft's final link steps, read after a full build and replayed.

After a full make, Unikraft has recorded each step's command in a `.cmd` file: LD of the `.dbg`,
the strip to the image, the boot-info section, the multiboot conversion. When a later link has
the same configuration (the cache key: tree and commit, libraries, options, target) and nothing
those steps read has changed since, kraftld runs those four commands itself, with its own inputs
in place of the recorded ones and a folder of its own for the outputs, so links that share a
build run side by side. What "nothing changed" means, checked on every fast relink:

- every file the recorded commands read, other than the compiler's inputs, has the size and
  modification time it had after the full build (the prelinked libraries, the linker scripts,
  Unikraft's scripts);
- each source tree is at the recorded commit with the same uncommitted changes (`git status`,
  run alongside the link so it costs no time; a tree that is not a git checkout never relinks
  fast).

Anything else, or a recorded command of a shape kraftld does not know, falls back to make.
The recorded commands are parsed into argument lists and run without a shell.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..atomic import write_atomically
from ..commands import Command
from ..layout import RECORD_FORMAT
from ..logs import log

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from ..commands import ProcessRunner
    from ..plan import LinkPlan

# The final steps, by the suffix of the file they make, in the order make runs them.
STEP_SUFFIXES = (".dbg", "", ".bootinfo", ".multiboot")


@dataclass(frozen=True)
class Prebuilt:
    """What a full build left for fast relinks."""

    format: int
    key: str
    build_dir: str
    image: str  # the image's path in the build folder
    ldflags: tuple[str, ...]  # the UK_LDFLAGS words inside the recorded LD command
    steps: tuple[tuple[str, ...], ...]  # each final step's arguments
    stamps: tuple[tuple[str, int, int], ...]  # (path, size, mtime_ns) of what the steps read
    trees: tuple[tuple[str, str], ...]  # (path, state) of each source tree

    def save(self, path: str) -> None:
        write_atomically(path, json.dumps(asdict(self)).encode(), 0o644)


def load_prebuilt(path: str, key: str) -> Prebuilt | None:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        prebuilt = Prebuilt(
            format=data["format"],
            key=data["key"],
            build_dir=data["build_dir"],
            image=data["image"],
            ldflags=tuple(data["ldflags"]),
            steps=tuple(tuple(step) for step in data["steps"]),
            stamps=tuple((p, s, m) for p, s, m in data["stamps"]),
            trees=tuple((p, s) for p, s in data["trees"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if prebuilt.format != RECORD_FORMAT or prebuilt.key != key:
        return None
    return prebuilt


_ALLOWED_SCRIPT = re.compile(r"^[^;`$<>\n]*$")


def parse_step_script(text: str) -> list[tuple[str, ...]] | None:
    """The commands of one recorded step, or None for a shape kraftld does not replay.

    Known shapes: `CMD`, `CMD && CMD`, and `CMD 2>&1 | { grep -Ev … || true; }` (a filter that
    only hides known warnings, dropped here).
    """
    text = text.strip()
    filter_at = text.find(" 2>&1 | {")
    if filter_at != -1:
        text = text[:filter_at]
    if not _ALLOWED_SCRIPT.match(text) or "|" in text:
        return None
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    commands: list[tuple[str, ...]] = []
    current: list[str] = []
    for word in words:
        if word == "&&":
            if not current:
                return None
            commands.append(tuple(current))
            current = []
        else:
            current.append(word)
    if not current:
        return None
    commands.append(tuple(current))
    return commands


def read_steps(image: str) -> list[tuple[str, ...]] | None:
    """The recorded final steps of an image, in order; None when they are not all known."""
    folder, name = os.path.split(image)
    known = {f"{name}{suffix}.cmd" for suffix in STEP_SUFFIXES}
    present = {entry for entry in os.listdir(folder) if entry.startswith(name) and entry.endswith(".cmd")}
    if not present <= known or f"{name}.dbg.cmd" not in present or f"{name}.cmd" not in present:
        return None  # a step kraftld does not know (EFI, relocations, compression…)
    steps: list[tuple[str, ...]] = []
    for suffix in STEP_SUFFIXES:
        script = os.path.join(folder, f"{name}{suffix}.cmd")
        if not os.path.exists(script):
            continue
        with open(script, encoding="utf-8", errors="replace") as handle:
            commands = parse_step_script(handle.read())
        if commands is None:
            return None
        steps.extend(commands)
    return steps


def find_subsequence(words: Sequence[str], part: Sequence[str]) -> int:
    if not part:
        return -1
    for start in range(len(words) - len(part) + 1):
        if tuple(words[start : start + len(part)]) == tuple(part):
            return start
    return -1


def read_files(steps: Sequence[tuple[str, ...]], ldflags: Sequence[str], image: str) -> list[str]:
    """The existing files the steps name, other than the compiler's inputs and the outputs."""
    skip = set(ldflags)
    files: set[str] = set()
    for step in steps:
        for word in step:
            for candidate in _paths_in(word):
                if candidate in skip or candidate.startswith(image) or not os.path.isfile(candidate):
                    continue
                files.add(candidate)
    return sorted(files)


def _paths_in(word: str) -> list[str]:
    # -Wl,-dT,/x/link64.lds and --update-section .uk_bootinfo=/x carry paths after , or =.
    return [part for part in re.split(r"[,=]", word) if part.startswith("/")]


def stamp(path: str) -> tuple[str, int, int]:
    info = os.stat(path)
    return (path, info.st_size, info.st_mtime_ns)


def tree_state_command(path: str) -> Command:
    # --no-optional-locks: links running side by side must not contend for the tree's index lock.
    return Command(("git", "--no-optional-locks", "-C", path, "status", "--porcelain=v1", "--untracked-files=no"))


def tree_state(head: str | None, status_output: str) -> str:
    return f"{head}:{hashlib.sha256(status_output.encode()).hexdigest()}"


def record(
    key: str, build_dir: str, image: str, ldflags: Sequence[str], trees: Sequence[tuple[str, str]]
) -> Prebuilt | None:
    steps = read_steps(image)
    if steps is None or find_subsequence(steps[0], ldflags) == -1:
        return None
    files = read_files(steps, ldflags, image)
    return Prebuilt(
        RECORD_FORMAT, key, build_dir, image, tuple(ldflags), tuple(steps), tuple(stamp(f) for f in files), tuple(trees)
    )


def files_unchanged(prebuilt: Prebuilt) -> bool:
    try:
        return all(stamp(path) == (path, size, mtime) for path, size, mtime in prebuilt.stamps)
    except OSError:
        return False


def replay(prebuilt: Prebuilt, ldflags: Sequence[str], link_dir: str) -> tuple[list[Command], str]:
    """The final steps for new UK_LDFLAGS, writing into `link_dir`; and the image path there."""
    new_image = os.path.join(link_dir, os.path.basename(prebuilt.image))
    commands: list[Command] = []
    for index, step in enumerate(prebuilt.steps):
        words = list(step)
        if index == 0:
            at = find_subsequence(words, prebuilt.ldflags)
            words[at : at + len(prebuilt.ldflags)] = list(ldflags)
        words = [word.replace(prebuilt.image, new_image) for word in words]
        commands.append(Command(tuple(words), cwd=prebuilt.build_dir))
    return commands, new_image


def tree_states(plan: LinkPlan, runner: ProcessRunner) -> list[tuple[str, str]] | None:
    """Each source tree's commit and uncommitted changes; None if one is not a git checkout."""
    states = []
    for tree in (plan.config.unikraft, *plan.config.libraries):
        if tree.commit is None:
            return None
        completed = runner(tree_state_command(tree.path))
        if completed.returncode != 0:
            return None
        states.append((tree.path, tree_state(tree.commit, "\n".join(completed.tail))))
    return states


def record_after_build(plan: LinkPlan, image: str, runner: ProcessRunner) -> Prebuilt | None:
    """After a full build, record what a fast relink replays; None when later links need make."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(plan.paths.record)
    trees = tree_states(plan, runner)
    if trees is None:
        log.info("fast relinks need git checkouts of every source tree: later links run make")
        return None
    prebuilt = record(plan.config.key, plan.build_dir, image, plan.ldflags, trees)
    if prebuilt is None:
        log.info("Unikraft's final link steps have a shape kraftld does not replay: later links run make")
        return None
    prebuilt.save(plan.paths.record)
    return prebuilt


def steps_for(plan: LinkPlan, prebuilt: Prebuilt, link_dir: str) -> tuple[list[Command], str]:
    """The recorded final steps for `plan`'s inputs, writing into `link_dir`; and the image there."""
    return replay(prebuilt, plan.relocated_ldflags(link_dir), link_dir)
