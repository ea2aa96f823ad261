"""An archive's ELF members, in order, unpacked with binutils' `ar` (thin archives read in place)."""

from __future__ import annotations

import os

from ..commands import Command, describe_failure
from ..errors import InputError
from .objects import Member, read_object

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from ..commands import ProcessRunner


def read_archive(path: str, runner: ProcessRunner) -> tuple[Member, ...]:
    """An archive's ELF members in order (an rlib's `lib.rmeta` and other non-ELF members skipped)."""
    import shutil  # imported here, as tempfile: a relink whose inputs are all cached needs neither
    import tempfile

    shown = os.path.basename(path)
    folder = tempfile.mkdtemp(prefix="kraftld-ar-")
    try:
        with open(path, "rb") as handle:
            thin = handle.read(8) == b"!<thin>\n"
        names = _listing(path, folder, runner, thin)
        members = []
        for name, member_path in names:
            with open(member_path, "rb") as handle:
                if handle.read(4) != b"\x7fELF":
                    continue
            members.append(read_object(member_path, f"{shown}({name})"))
        return tuple(members)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _listing(path: str, folder: str, runner: ProcessRunner, thin: bool) -> list[tuple[str, str]]:
    """(member name, where its bytes are) for each member, in the archive's order."""
    # `ar t`'s output is read from a file: the runner keeps only the tail of what it captures.
    listing = os.path.join(folder, "members.txt")
    with open(listing, "w+", encoding="utf-8") as log_file:
        completed = runner(Command(("ar", "t", os.path.abspath(path))), log_file=log_file)
    with open(listing, encoding="utf-8", errors="surrogateescape") as handle:
        names = [line.rstrip("\n") for line in handle if line.strip()]
    if completed.returncode != 0:
        raise InputError(
            f"ar cannot list {os.path.basename(path)}", "check the archive", details=describe_failure(completed)
        )
    if thin:  # a thin archive names its members' files, relative to the archive's folder
        return [(name, os.path.join(os.path.dirname(os.path.abspath(path)), name)) for name in names]
    extracted = os.path.join(folder, "members")
    os.mkdir(extracted)
    completed = runner(Command(("ar", "x", os.path.abspath(path)), cwd=extracted))
    if completed.returncode != 0:
        raise InputError(
            f"ar cannot unpack {os.path.basename(path)}", "check the archive", details=describe_failure(completed)
        )
    # Two members of one name: `ar x` keeps the last; both names then read that one's symbols.
    return [(name, os.path.join(extracted, os.path.basename(name))) for name in names]
