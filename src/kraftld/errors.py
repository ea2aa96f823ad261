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
        # Names from the command line may hold line breaks or other control characters; shown
        # escaped, they cannot forge a line of their own.
        lines = [f"{program}: error: {printable(self.message)}", f"hint: {printable(self.hint)}"]
        lines.extend(printable(line) for line in self.details)
        return "\n".join(lines) + "\n"


def printable(text: str) -> str:
    """`text` with control characters (and undecodable bytes) written as escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte os.fsdecode could not decode
        return f"\\x{code - 0xDC00:02x}"
    return repr(char)[1:-1] if code < 0x100 else f"\\u{code:04x}"


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


class ToolchainError(KraftldError):
    """The Rust toolchain cannot build or serve a std for the Unikraft target."""
