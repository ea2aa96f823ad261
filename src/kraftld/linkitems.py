"""The values a parsed link line is made of: its items in the compiler's order, and decisions.

Pure values, shared by the parser (`linkline`) and the stages after it (`resolve`, `plan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .flags import Action


@dataclass(frozen=True)
class InputFile:
    """An object, archive (rlibs are archives) or linker-script input, as the compiler named it.

    `position`: the index of its word on the (expanded) link line, or -1 when it came inside
    another argument (`-Wl,file.o`); the head start puts the next line's word there.
    """

    path: str
    position: int = field(default=-1, compare=False)


@dataclass(frozen=True)
class LibraryRef:
    """`-lNAME` (or `-l:FILE` when `verbatim`), resolved later to a static archive."""

    name: str
    verbatim: bool = False

    @property
    def spelling(self) -> str:
        return f"-l:{self.name}" if self.verbatim else f"-l{self.name}"


@dataclass(frozen=True)
class LinkerScript:
    """`-T FILE`: an extra script, placed after Unikraft's own default script."""

    path: str


@dataclass(frozen=True)
class LinkerOption:
    """A linker option kept as is, with its value words: ('-z', 'noexecstack')."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class LinkerOutputFile:
    """An option whose value is a file ld writes, such as `-Map FILE`."""

    option: str
    path: str


@dataclass(frozen=True)
class DriverFlag:
    """A driver flag forwarded to Unikraft's gcc as is, such as `-m64`."""

    args: tuple[str, ...]


LinkItem = InputFile | LibraryRef | LinkerScript | LinkerOption | LinkerOutputFile | DriverFlag


@dataclass(frozen=True)
class Decision:
    """What became of one argument, and why: the record `-v` and the dry run show."""

    argument: str
    action: Action
    why: str


class Request(Enum):
    LINK = "link"
    VERSION = "version"
    HELP = "help"


@dataclass(frozen=True)
class LinkLine:
    """A parsed link line. `items` keeps the compiler's order; nothing is sorted or merged."""

    output: str | None
    items: tuple[LinkItem, ...]
    search_dirs: tuple[str, ...]
    decisions: tuple[Decision, ...]
    verbose: bool = False
    request: Request = Request.LINK

    @property
    def inputs(self) -> tuple[InputFile, ...]:
        return tuple(item for item in self.items if isinstance(item, InputFile))
