"""The errors kraftld reports to its user: each says what went wrong and a hint for what to do.

Domain code raises these; only the command-line boundary turns them into `kraftld: error: …`
lines and an exit status. Anything else that escapes is a bug and shows its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class KraftldError(Exception):
    """A failure the user can act on."""

    def __init__(self, message: str, hint: str, *, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # Extra lines shown after the hint: the failing command, the tail of a build log.
        self.details = tuple(details)

    def render(self, program: str = "kraftld") -> str:
        lines = [f"{program}: error: {self.message}", f"hint: {self.hint}"]
        lines.extend(self.details)
        return "\n".join(lines) + "\n"


class UsageError(KraftldError):
    """The link line itself cannot be understood or is not a unikernel link."""


class ResponseFileError(UsageError):
    """An @file is missing, unreadable, binary or includes itself."""


class InputError(KraftldError):
    """An input named on the link line cannot be used."""


class ConfigError(KraftldError):
    """The Kraftfile or a KRAFTLD_* variable is wrong."""


class SourceError(KraftldError):
    """A Unikraft tree or library source is missing or unusable."""


class BuildError(KraftldError):
    """The Unikraft build failed."""


class ImageError(KraftldError):
    """The build produced no image, or one that is not a static unikernel."""


class RunError(KraftldError):
    """The runner could not boot an image."""
