"""Compiles the C files kraftld ships (its runtime object, its compiler launcher) once per cache.

Each result is named by a digest of its sources and compile command, so a new kraftld or a
different compiler gets a fresh one and every link reuses the one it has.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from .atomic import replacing
from .commands import Command, describe_failure
from .errors import BuildError

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .commands import ProcessRunner


@dataclass(frozen=True)
class Compiled:
    """A file compiled from the package's sources: where it goes, and the command that makes it
    (its `-o` names `output + ".tmp"`, replaced by a private temporary when it runs)."""

    output: str
    command: Command
    what: str  # for the error: "kraftld's runtime object"
    executable: bool = False


def package_source(folder: str, name: str) -> str:
    # The package ships as files (see pyproject's package-data); importlib.resources would cost
    # a fifth of kraftld's start-up for the same answer.
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), folder, name)


def digest_of(sources: Sequence[str], command: Sequence[str]) -> str:
    hasher = hashlib.sha256()
    for source in sources:
        with open(source, "rb") as handle:
            hasher.update(handle.read())
    hasher.update("\0".join(command).encode())
    return hasher.hexdigest()[:16]


def ensure_compiled(compiled: Compiled, runner: ProcessRunner) -> str:
    """Compile unless the cache has the result; return its path."""
    if os.path.isfile(compiled.output):
        return compiled.output
    os.makedirs(os.path.dirname(compiled.output), exist_ok=True)
    # Each compiler writes its own temporary; the rename makes the result appear whole.
    with replacing(compiled.output) as temporary:
        argv = tuple(temporary.temporary if arg == compiled.output + ".tmp" else arg for arg in compiled.command.argv)
        completed = runner(Command(argv))
        if completed.returncode != 0:
            raise BuildError(
                f"cannot compile {compiled.what}",
                "kraftld needs gcc for x86_64 (Debian: apt-get install gcc)",
                details=describe_failure(completed),
            )
        if compiled.executable:  # the temporary was made private (0600)
            os.chmod(temporary.temporary, 0o755)
    return compiled.output
