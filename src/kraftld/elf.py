"""Reads just enough of ELF and ar headers to judge link inputs and check the finished image."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from typing import BinaryIO

ELF_MAGIC = b"\x7fELF"
AR_MAGIC = b"!<arch>\n"
THIN_AR_MAGIC = b"!<thin>\n"
LLVM_BITCODE_MAGIC = b"BC\xc0\xde"
LLVM_WRAPPER_MAGIC = b"\xde\xc0\x17\x0b"

ET_REL, ET_EXEC, ET_DYN = 1, 2, 3
EM_X86_64 = 62
PT_DYNAMIC, PT_INTERP = 2, 3
SHT_DYNAMIC = 6


class FileKind(Enum):
    OBJECT = "object"
    SHARED_OBJECT = "shared object"
    EXECUTABLE = "executable"
    ARCHIVE = "archive"
    THIN_ARCHIVE = "thin archive"
    LLVM_BITCODE = "LLVM bitcode"
    TEXT = "text"  # ld reads a text input as a linker script
    OTHER = "other"


@dataclass(frozen=True)
class FileInfo:
    kind: FileKind
    machine: int | None = None  # e_machine for ELF files
    elf_class: int | None = None  # 1: 32-bit, 2: 64-bit


def identify(head: bytes) -> FileInfo:
    """Identify a file from its first 64 bytes."""
    if head.startswith(ELF_MAGIC) and len(head) >= 20:
        elf_class, data = head[4], head[5]
        order = "<" if data == 1 else ">"
        e_type, e_machine = struct.unpack_from(order + "HH", head, 16)
        kind = {ET_REL: FileKind.OBJECT, ET_EXEC: FileKind.EXECUTABLE, ET_DYN: FileKind.SHARED_OBJECT}
        return FileInfo(kind.get(e_type, FileKind.OTHER), e_machine, elf_class)
    if head.startswith(AR_MAGIC):
        return FileInfo(FileKind.ARCHIVE)
    if head.startswith(THIN_AR_MAGIC):
        return FileInfo(FileKind.THIN_ARCHIVE)
    if head.startswith(LLVM_BITCODE_MAGIC) or head.startswith(LLVM_WRAPPER_MAGIC):
        return FileInfo(FileKind.LLVM_BITCODE)
    if b"\0" not in head:
        return FileInfo(FileKind.TEXT)
    return FileInfo(FileKind.OTHER)


def dynamic_linking_marks(handle: BinaryIO) -> list[str]:
    """What in an ELF image asks for a dynamic loader: an interpreter or a dynamic section.

    Reads only the headers. An empty list means the image is static. Raises ValueError when the
    file is not ELF.
    """
    header = handle.read(64)
    if not header.startswith(ELF_MAGIC) or len(header) < 52:
        raise ValueError("not an ELF file")
    is64 = header[4] == 2
    order = "<" if header[5] == 1 else ">"
    if is64:
        phoff, shoff = struct.unpack_from(order + "QQ", header, 32)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(order + "HHHH", header, 54)
    else:
        phoff, shoff = struct.unpack_from(order + "II", header, 28)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(order + "HHHH", header, 42)
    marks: list[str] = []
    handle.seek(phoff)
    program_headers = handle.read(phnum * phentsize)
    if len(program_headers) < phnum * phentsize:
        raise ValueError("truncated program headers")
    for index in range(phnum):
        (p_type,) = struct.unpack_from(order + "I", program_headers, index * phentsize)
        if p_type == PT_INTERP:
            marks.append("a program interpreter (PT_INTERP)")
        elif p_type == PT_DYNAMIC:
            marks.append("a dynamic segment (PT_DYNAMIC)")
    handle.seek(shoff)
    # A stripped image may have its section headers cut: then the program headers decide.
    section_headers = handle.read(shnum * shentsize)
    for index in range(len(section_headers) // shentsize if shentsize else 0):
        (sh_type,) = struct.unpack_from(order + "I", section_headers, index * shentsize + 4)
        if sh_type == SHT_DYNAMIC:
            marks.append("a .dynamic section")
            break
    return marks
