"""A link input's symbols, an object or an archive's members: read once, then from the cache."""

from __future__ import annotations

import os

from .archives import read_archive
from .cache import entry_path, file_identity, load, store
from .objects import InputSymbols, read_object

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from ..commands import ProcessRunner


def read_file_symbols(path: str, shown: str, archive: bool, cache: str | None, runner: ProcessRunner) -> InputSymbols:
    """The symbols of `path` (an archive's members when `archive`), from the cache when it holds
    them for the file as it is now; `shown` is how the link line named it."""
    where = None if cache is None else entry_path(path, cache)
    identity = file_identity(path)  # taken before reading: a file changed meanwhile is read again next time
    members = load(where, identity)
    if members is None:
        members = read_archive(path, runner) if archive else (read_object(path, os.path.basename(path)),)
        store(where, identity, members)
    return InputSymbols(path, shown, archive, members)
