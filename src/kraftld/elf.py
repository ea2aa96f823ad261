"""Reads just enough of ELF and ar headers to judge link inputs and check the finished image."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum

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


def dynamic_linking_marks(data: bytes) -> list[str]:
    """What in an ELF image asks for a dynamic loader: an interpreter or a dynamic section.

    An empty list means the image is static. Raises ValueError when `data` is not ELF.
    """
    if not data.startswith(ELF_MAGIC) or len(data) < 52:
        raise ValueError("not an ELF file")
    is64 = data[4] == 2
    order = "<" if data[5] == 1 else ">"
    if is64:
        phoff, shoff = struct.unpack_from(order + "QQ", data, 32)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(order + "HHHH", data, 54)
    else:
        phoff, shoff = struct.unpack_from(order + "II", data, 28)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(order + "HHHH", data, 42)
    marks: list[str] = []
    for index in range(phnum):
        start = phoff + index * phentsize
        if start + 4 > len(data):
            raise ValueError("truncated program headers")
        (p_type,) = struct.unpack_from(order + "I", data, start)
        if p_type == PT_INTERP:
            marks.append("a program interpreter (PT_INTERP)")
        elif p_type == PT_DYNAMIC:
            marks.append("a dynamic segment (PT_DYNAMIC)")
    for index in range(shnum):
        start = shoff + index * shentsize
        if start + 8 > len(data):
            break  # a stripped image may have its section headers cut: program headers decide
        (sh_type,) = struct.unpack_from(order + "I", data, start + 4)
        if sh_type == SHT_DYNAMIC:
            marks.append("a .dynamic section")
            break
    return marks
