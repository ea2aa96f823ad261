"""How the compiler's inputs are named where make and ld see them: one plain name per input.

Shared by the plan, the execution and the head start, which runs before the plan's modules are
imported: this module imports only `os` (no `re`: a character set does the same work here).
"""

from __future__ import annotations

import errno
import os

from .atomic import remove_tree

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from collections.abc import Iterable

_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def input_path(cwd: str, word: str) -> str:
    """The file an input word on the link line names."""
    return os.path.normpath(os.path.join(cwd, word))


def staged_name(index: int, path: str) -> str:
    """The plain name of the `index`th staged file: its position, then its name made plain."""
    base = "".join(c if c in _PLAIN else "_" for c in os.path.basename(path))[-80:] or "input"
    return f"{index:04d}-{base}"


def stage(folder: str, staged: Iterable[tuple[str, str]]) -> None:
    """Give every input a plain name in `folder`, made afresh: a symbolic link to the real file.

    make follows the links when it compares times, and the compiler's own files stay where they
    are (rustc deletes its symbols.o right after the link; nothing here needs it later).
    """
    remove_tree(folder)
    os.makedirs(folder)
    for name, target in staged:
        if not os.path.exists(target):
            raise FileNotFoundError(errno.ENOENT, "a staged input is gone", target)
        os.symlink(target, os.path.join(folder, name))
