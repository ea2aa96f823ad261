"""Checks a parsed link line against the file system: inputs exist and fit, `-l` finds archives.

This is the probing stage: it reads files but writes none. What it returns names every file by
absolute path, so later stages no longer depend on the working directory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from .elf import EM_X86_64, FileInfo, FileKind, identify
from .errors import InputError, UsageError
from .linkline import (
    DriverFlag,
    InputFile,
    LibraryRef,
    LinkerOption,
    LinkerOutputFile,
    LinkerScript,
    LinkLine,
)
from .staging import input_path

SOURCE_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".rs", ".s", ".S", ".go", ".h", ".zig")


@dataclass(frozen=True)
class StagedFile:
    """A file the final link reads, named by absolute path; `as_script` for `-T` scripts."""

    path: str
    original: str
    kind: FileKind
    as_script: bool = False
    position: int = -1  # its word's index on the link line (`InputFile.position`)


ResolvedItem = StagedFile | LinkerOption | LinkerOutputFile | DriverFlag


@dataclass(frozen=True)
class ResolvedLink:
    output: str
    items: tuple[ResolvedItem, ...]

    @property
    def files(self) -> tuple[StagedFile, ...]:
        """The input files, in line order (library selection reads their symbols)."""
        return tuple(item for item in self.items if isinstance(item, StagedFile))


def resolve_link(line: LinkLine, cwd: str) -> ResolvedLink:
    if line.output is None:
        raise UsageError(
            "no output named: the link line has no -o",
            "kraftld writes the image to -o and its debug image to -o.dbg; add -o PATH",
        )
    output = _resolve_output(line.output, cwd)
    # The debug image goes beside it, by the same rename (plan.debug_output), and is as much
    # an output: a folder there would stop the link after the build.
    _resolve_output(line.output + ".dbg", cwd, what="the debug image (-o.dbg)")
    search_dirs = [os.path.join(cwd, d) for d in line.search_dirs]
    items: list[ResolvedItem] = []
    for item in line.items:
        if isinstance(item, InputFile):
            items.append(_input(item, cwd))
        elif isinstance(item, LibraryRef):
            items.append(_library(item, search_dirs))
        elif isinstance(item, LinkerScript):
            items.append(_script(item.path, cwd, search_dirs))
        elif isinstance(item, LinkerOutputFile):
            items.append(LinkerOutputFile(item.option, _resolve_output(item.path, cwd, what=f"{item.option} file")))
        else:
            items.append(item)
    if not any(isinstance(item, StagedFile) and not item.as_script for item in items):
        raise UsageError("no input files", "name the objects and archives to link")
    _check_outputs_spare_inputs(output, items)
    return ResolvedLink(output, tuple(items))


NAME_MAX = 255


def _resolve_output(path: str, cwd: str, what: str = "the output") -> str:
    output = os.path.normpath(os.path.join(cwd, path))
    folder = os.path.dirname(output)
    if len(os.fsencode(os.path.basename(output))) > NAME_MAX:
        raise UsageError(f"{what}'s name is longer than {NAME_MAX} bytes: {output}", "choose a shorter name")
    if not os.path.isdir(folder):
        raise UsageError(
            f"the folder of {what} does not exist: {folder}",
            "create the folder first, or give a path in an existing folder",
        )
    if os.path.isdir(output):
        raise UsageError(f"{what} is a folder: {output}", "give a file path")
    if os.path.exists(output) and not os.path.isfile(output):
        # Replacing a device or a pipe by an image (as root, even /dev/null) is never meant.
        raise UsageError(f"{what} exists and is not a regular file: {output}", "give a path for a regular file")
    return output


def _check_outputs_spare_inputs(output: str, items: list[ResolvedItem]) -> None:
    """Like ld, refuse to write over an input: a failed link would lose it."""
    written = {os.path.realpath(output), os.path.realpath(output + ".dbg")}
    written |= {os.path.realpath(item.path) for item in items if isinstance(item, LinkerOutputFile)}
    for item in items:
        if isinstance(item, StagedFile) and os.path.realpath(item.path) in written:
            raise UsageError(
                f"the output is the same as the input {item.original}: the link would overwrite it",
                "give -o (or -Map) a path that is not one of the inputs",
            )


def _read_head(path: str, shown: str) -> FileInfo:
    try:
        with open(path, "rb") as handle:
            return identify(handle.read(64))
    except FileNotFoundError:
        raise InputError(
            f"input not found: {shown}", "check the path; a relative path is read from the working directory"
        ) from None
    except IsADirectoryError:
        raise InputError(f"input is a folder: {shown}", "name an object file or an archive") from None
    except PermissionError:
        raise InputError(f"input cannot be read: {shown} (permission denied)", "check the file's permissions") from None
    except OSError as error:
        raise InputError(f"input cannot be read: {shown} ({error.strerror})", "check the file") from None


def _input(item: InputFile, cwd: str) -> StagedFile:
    original = shown = item.path
    path = input_path(cwd, original)
    if original.endswith(SOURCE_SUFFIXES):
        raise InputError(f"{shown} is a source file", "kraftld links; compile it to an object with your compiler first")
    info = _read_head(path, shown)
    _check_kind(info, shown, path)
    return StagedFile(path, original, info.kind, position=item.position)


def _is_shared_library_name(path: str) -> bool:
    """`libfoo.so` or `libfoo.so.1.2`: ld would take such a file for a shared library (or, when
    it is not ELF, read it as a linker script naming one)."""
    name = os.path.basename(path)
    base, sep, version = name.partition(".so")
    return bool(base and sep) and (not version or all(part.isdigit() for part in version[1:].split(".")))


def _check_kind(info: FileInfo, shown: str, path: str) -> None:
    if info.kind is FileKind.SHARED_OBJECT or _is_shared_library_name(path):
        raise InputError(
            f"{shown} is a shared object",
            "a unikernel is one static image: link the static archive (.a) of that library instead",
        )
    if info.kind is FileKind.EXECUTABLE:
        raise InputError(f"{shown} is an already linked executable", "link its object files instead")
    if info.kind is FileKind.LLVM_BITCODE:
        raise InputError(
            f"{shown} is LLVM bitcode, which GNU ld cannot link",
            "build without -C linker-plugin-lto (or -flto with clang) so the compiler emits ELF objects",
        )
    if info.kind is FileKind.OTHER:
        raise InputError(f"{shown} is neither an object, an archive nor a linker script", "check the file")
    if info.kind is FileKind.OBJECT and info.machine != EM_X86_64:
        raise InputError(
            f"{shown} is not an x86_64 object (ELF machine {info.machine})",
            "compile for x86_64: the unikernel targets x86_64",
        )


def _library(ref: LibraryRef, search_dirs: Sequence[str]) -> StagedFile:
    wanted = ref.name if ref.verbatim else f"lib{ref.name}.a"
    shared_only: str | None = None
    for folder in search_dirs:
        candidate = os.path.join(folder, wanted)
        if os.path.isfile(candidate):
            info = _read_head(candidate, candidate)
            _check_kind(info, f"{ref.spelling} ({candidate})", candidate)
            return StagedFile(candidate, ref.spelling, info.kind)
        if not ref.verbatim and os.path.exists(os.path.join(folder, f"lib{ref.name}.so")):
            shared_only = os.path.join(folder, f"lib{ref.name}.so")
    if shared_only is not None:
        raise InputError(
            f"{ref.spelling}: only a shared library was found ({shared_only})",
            f"a unikernel is one static image: provide lib{ref.name}.a in a -L folder",
        )
    searched = ", ".join(search_dirs) if search_dirs else "no -L folders given"
    raise InputError(
        f"cannot find {ref.spelling}: no {wanted} in the -L folders ({searched})",
        "add -L FOLDER for the folder that holds it; kraftld does not search the host's system folders",
    )


def _script(original: str, cwd: str, search_dirs: Sequence[str]) -> StagedFile:
    # ld looks for a -T script in the working directory, then in the -L folders.
    candidates = [os.path.join(cwd, original)] + [os.path.join(d, original) for d in search_dirs]
    for candidate in candidates:
        if os.path.isfile(candidate):
            _read_head(candidate, original)
            return StagedFile(os.path.normpath(candidate), original, FileKind.TEXT, as_script=True)
    raise InputError(f"linker script not found: {original}", "check the path given to -T")
