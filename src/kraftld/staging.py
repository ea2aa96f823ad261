"""How the compiler's inputs are named where make and ld see them: one plain name per input.

Shared by the plan and the head start, which runs before the plan's modules are imported: this
module imports only `os` (no `re`: a character set does the same work here).
"""

from __future__ import annotations

import os

_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def input_path(cwd: str, word: str) -> str:
    """The file an input word on the link line names."""
    return os.path.normpath(os.path.join(cwd, word))


def staged_name(index: int, path: str) -> str:
    """The plain name of the `index`th staged file: its position, then its name made plain."""
    base = "".join(c if c in _PLAIN else "_" for c in os.path.basename(path))[-80:] or "input"
    return f"{index:04d}-{base}"
