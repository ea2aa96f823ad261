"""Puts files and folders in place whole: made under a private name beside, then renamed.

Every file kraftld writes whole (cache records, notes, generated sources, the runtime object, the
image at `-o`) and every clone reaches its place through `replacing`: readers see the old file
or the new one, never half of one, and an interrupted writer leaves no temporary behind. The head
start uses it before the rest of kraftld is imported, so this module imports only `os`.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType


def temporary_beside(path: str) -> tuple[int, str]:
    """A new private file in `path`'s folder, to be renamed over `path` (tempfile's mkstemp,
    without the cost of importing tempfile on every link)."""
    folder = os.path.dirname(path) or "."
    while True:
        temporary = os.path.join(folder, f".kraftld-{os.urandom(6).hex()}")
        try:
            return os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), temporary
        except FileExistsError:
            continue


class replacing:
    """A temporary beside `path` that replaces it when the block ends well, and is removed when
    it does not (an exception, an interrupt).

    `fd` is the temporary file's open descriptor, closed when the block ends. With `folder`, the
    temporary is an empty folder instead (for `git clone`), put in place only if `path` does not
    exist yet: a folder another process made first is kept, and ours removed.
    """

    def __init__(self, path: str, *, folder: bool = False) -> None:
        self.path = path
        self.folder = folder
        self.fd = -1
        self.temporary = ""
        self.kept = False  # whether the temporary reached `path`

    def __enter__(self) -> replacing:
        if self.folder:
            self.temporary = writer_named(f"{self.path}.partial")
            os.mkdir(self.temporary)
        else:
            self.fd, self.temporary = temporary_beside(self.path)
        return self

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self.fd != -1:
            os.close(self.fd)
            self.fd = -1
        if kind is None:
            try:
                if self.folder:
                    os.rename(self.temporary, self.path)  # refused when `path` exists: theirs stays
                else:
                    os.replace(self.temporary, self.path)
                self.kept = True
            except OSError:
                if not self.folder:
                    remove_tree(self.temporary)
                    raise
        if not self.kept:
            remove_tree(self.temporary)


def write_atomically(path: str, data: bytes, mode: int | None = None) -> None:
    """Write `data` to `path` whole; `mode`: its permissions (else private to the user)."""
    with replacing(path) as temporary:
        temporary.write(data)
        if mode is not None:
            os.fchmod(temporary.fd, mode & ~umask())


def write_if_changed(path: str, text: str) -> bool:
    """Write a file only when its text differs, so make sees no change where there is none."""
    data = text.encode("utf-8", "surrogateescape")  # paths keep their bytes, as the OS gave them
    try:
        with open(path, "rb") as handle:
            if handle.read() == data:
                return False
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomically(path, data)
    return True


def umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def remove_tree(path: str) -> None:
    """Remove a file or a folder with all it holds, quietly (shutil is not imported for this)."""
    if os.path.isdir(path) and not os.path.islink(path):
        for folder, dirs, files in os.walk(path, topdown=False):
            for name in files:
                _quietly(os.unlink, os.path.join(folder, name))
            for name in dirs:
                child = os.path.join(folder, name)
                _quietly(os.unlink if os.path.islink(child) else os.rmdir, child)
        _quietly(os.rmdir, path)
    else:
        _quietly(os.unlink, path)


def _quietly(remove: Callable[[str], None], path: str) -> None:
    try:  # noqa: SIM105 - contextlib is not imported here, for start-up's sake
        remove(path)
    except OSError:
        pass


def writer_named(stem: str) -> str:
    """`stem-PID-RANDOM`: a temporary or trash name that says which process made it, so that
    what a killed writer left can be told from what a running one is still making (`abandoned`):
    `replacing`'s folders, the prunes' trash."""
    return f"{stem}-{os.getpid()}-{os.urandom(4).hex()}"


def abandoned(name: str) -> bool:
    """Whether the writer that made `name` (`writer_named`) is gone; a name that says no pid is
    nobody's."""
    parts = name.rsplit("-", 2)
    return not (len(parts) == 3 and parts[1].isdigit() and writer_alive(int(parts[1])))


def writer_alive(pid: int) -> bool:
    """Whether the process that named a temporary by its pid (`writer_named`) still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
