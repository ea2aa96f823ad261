"""Expands `@file` arguments the way gcc does, so kraftld reads any response file its compiler writes.

gcc reads response files with libiberty's `buildargv` rules: arguments are separated by white
space, a backslash makes the next character literal, and single or double quotes group. rustc's
format (one argument per line, `\\` and space escaped with a backslash) is a subset of those rules,
so one reader serves both. Nested files are expanded in place; a file that includes itself is an
error rather than an endless loop. A relative `@file` is found from the working directory, as gcc
finds it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence

from .errors import ResponseFileError

# libiberty's ISSPACE: the characters that separate arguments outside quotes.
_SEPARATORS = frozenset(" \t\n\r\f\v")

# A response file tree that expands past this many arguments is a mistake (or an attack that
# nests one file many times); real link lines have a few thousand.
MAX_EXPANDED_ARGS = 1_000_000
# Nesting deeper than this is no real compiler's doing.
MAX_DEPTH = 64
# rustc's largest response files hold a few MiB of paths.
MAX_FILE_BYTES = 64 << 20

ReadBytes = Callable[[str], bytes]


def split_response_text(text: str) -> list[str]:
    """Split a response file's text into arguments with libiberty's rules."""
    args: list[str] = []
    current: list[str] = []
    in_arg = escaped = in_single = in_double = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            # libiberty honours the backslash inside quotes too.
            escaped = in_arg = True
        elif in_single:
            if char == "'":
                in_single = False
            else:
                current.append(char)
        elif in_double:
            if char == '"':
                in_double = False
            else:
                current.append(char)
        elif char in _SEPARATORS:
            if in_arg:
                args.append("".join(current))
                current.clear()
                in_arg = False
        elif char == "'":
            in_single = in_arg = True
        elif char == '"':
            in_double = in_arg = True
        else:
            current.append(char)
            in_arg = True
    if in_arg:
        args.append("".join(current))
    return args


def _read_file(path: str) -> bytes:
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ResponseFileError(
                f"response file @{path} is not a regular file", "name a file that holds the arguments"
            )
        if info.st_size > MAX_FILE_BYTES:
            raise ResponseFileError(
                f"response file @{path} is {info.st_size} bytes, more than kraftld reads ({MAX_FILE_BYTES})",
                "check that the @ names a response file",
            )
        return handle.read(MAX_FILE_BYTES + 1)


def expand_response_files(argv: Sequence[str], read: ReadBytes = _read_file) -> list[str]:
    """Return argv with every `@file` replaced by the arguments it holds, recursively."""
    expanded: list[str] = []
    _expand_into(expanded, argv, read, chain=())
    return expanded


def _expand_into(out: list[str], args: Sequence[str], read: ReadBytes, chain: tuple[str, ...]) -> None:
    for arg in args:
        if not arg.startswith("@") or arg == "@":
            out.append(arg)
            if len(out) > MAX_EXPANDED_ARGS:
                raise ResponseFileError(
                    f"response files expand to more than {MAX_EXPANDED_ARGS} arguments",
                    "check for a response file that is included many times over",
                )
            continue
        path = arg[1:]
        if len(chain) >= MAX_DEPTH:
            raise ResponseFileError(
                f"response files are nested more than {MAX_DEPTH} deep (at @{path})",
                "check for a chain of @files that keeps including further files",
            )
        identity = os.path.realpath(path)
        if identity in chain:
            loop = " -> ".join(f"@{p}" for p in (*chain, identity))
            raise ResponseFileError(
                f"response file includes itself: {loop}",
                "remove the @file line that points back to an including file",
            )
        _expand_into(out, _load(path, read), read, (*chain, identity))


def _load(path: str, read: ReadBytes) -> list[str]:
    try:
        data = read(path)
    except FileNotFoundError:
        raise ResponseFileError(
            f"response file not found: @{path}",
            "the compiler writes @files only for the duration of the link; check the path",
        ) from None
    except IsADirectoryError:
        raise ResponseFileError(f"response file is a directory: @{path}", "name a file after the @") from None
    except OSError as error:
        raise ResponseFileError(
            f"cannot read response file @{path}: {error.strerror}",
            "check the file's permissions",
        ) from None
    if b"\0" in data:
        raise ResponseFileError(
            f"response file @{path} contains NUL bytes; it is not a text file",
            "an @file holds arguments as text, one per line or separated by spaces",
        )
    # Paths are bytes on Linux: decode as the OS does for argv so odd bytes survive the trip.
    return split_response_text(os.fsdecode(data))
