"""What a Unikraft image offers the runner, read from the image itself: its libraries and its
boot parameters (and, from its symbols, which entry of libtest a test binary has).

Unikraft records every library it linked in `.uk_libinfo` (uklibid's records: a header, then
typed records, one a library name) and every boot parameter in `.uk_libparam_params` (one
`struct uk_libparam_param` each: prefix, name, description, type, count, ...). Both sections are
in the stripped image too, so the runner can tell before booting whether `-e`, `-v` or `-p` can
work, instead of the guest dropping them without a word.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

LIBINFO_SECTION = ".uk_libinfo"
PARAMS_SECTION = ".uk_libparam_params"
UKLI_REC_LIBNAME = 0x0001
_LIBINFO_HEADER = struct.Struct("<IH")  # struct uk_libid_info_hdr: len, version
_LIBINFO_RECORD = struct.Struct("<HI")  # struct uk_libid_info_rec: type, len
# struct uk_libparam_param on x86_64: prefix, name, desc (pointers), type (enum, padded), count,
# addr, pdata; 8-byte aligned.
_PARAM = struct.Struct("<QQQI4xQQQ")


@dataclass(frozen=True)
class ImageFacts:
    libraries: frozenset[str]  # uklibid names: libvfscore, lib9pfs, libvirtio_9p, ...
    params: dict[str, int]  # boot parameter "prefix.name" -> how many values it holds

    def has(self, *libraries: str) -> bool:
        return all(name in self.libraries for name in libraries)


def read_image(path: str) -> ImageFacts | None:
    """The image's libraries and parameters, or None for a file that is not a Unikraft image
    this runner can read (then nothing is checked before boot)."""
    try:
        with open(path, "rb") as handle:
            return _read(handle)
    except (OSError, ELFError, struct.error, ValueError):
        return None


def _read(handle: BinaryIO) -> ImageFacts | None:
    elf = ELFFile(handle)
    libinfo = elf.get_section_by_name(LIBINFO_SECTION)
    params = elf.get_section_by_name(PARAMS_SECTION)
    if libinfo is None or params is None:
        return None
    return ImageFacts(frozenset(_library_names(libinfo.data())), _parameters(elf, handle, params.data()))


def _library_names(data: bytes) -> list[str]:
    names = []
    at = 0
    while at + _LIBINFO_HEADER.size <= len(data):
        length, _ = _LIBINFO_HEADER.unpack_from(data, at)
        if length < _LIBINFO_HEADER.size:
            break
        record = at + _LIBINFO_HEADER.size
        while record + _LIBINFO_RECORD.size <= min(at + length, len(data)):
            kind, size = _LIBINFO_RECORD.unpack_from(data, record)
            if size < _LIBINFO_RECORD.size:
                break
            if kind == UKLI_REC_LIBNAME:
                names.append(
                    data[record + _LIBINFO_RECORD.size : record + size].split(b"\0")[0].decode(errors="replace")
                )
            record += size
        at += length
    return names


def _parameters(elf: ELFFile, handle: BinaryIO, data: bytes) -> dict[str, int]:
    found = {}
    for at in range(0, len(data) - _PARAM.size + 1, _PARAM.size):
        prefix, name, _desc, _type, count, _addr, _pdata = _PARAM.unpack_from(data, at)
        found[f"{_string_at(elf, handle, prefix)}.{_string_at(elf, handle, name)}"] = count
    return found


def _string_at(elf: ELFFile, handle: BinaryIO, address: int) -> str:
    for segment in elf.iter_segments():
        start = segment["p_vaddr"]
        if segment["p_type"] == "PT_LOAD" and start <= address < start + segment["p_filesz"]:
            handle.seek(segment["p_offset"] + address - start)
            return handle.read(256).split(b"\0")[0].decode(errors="replace")
    raise ValueError(f"address {address:#x} is in no loaded segment")


# rustc's harness calls libtest's test_main_static_abort only for a test crate compiled with
# -Zpanic-abort-tests (compiler/rustc_builtin_macros/src/test_harness.rs); the link's
# --gc-sections drops it from any other. Its name as v0 mangling ends it, and as legacy
# mangling goes on (a hash follows).
ABORT_HARNESS_SYMBOLS = (b"4test22test_main_static_abort\0", b"4test22test_main_static_abort17h")


def has_abort_harness(symbols: str) -> bool:
    """Whether the image whose symbols are in `symbols` (its .dbg) starts libtest by
    `test_main_static_abort`: a primary that spawns a process per test, and a secondary mode
    (env `__RUST_TEST_INVOKE=NAME`) that runs and judges one. The names of the symbol table are
    searched as bytes: pyelftools' symbol objects take seconds for a Rust binary's 20,000."""
    try:
        with open(symbols, "rb") as handle:
            strtab = ELFFile(handle).get_section_by_name(".strtab")
            names = strtab.data() if strtab is not None else b""
            return any(symbol in names for symbol in ABORT_HARNESS_SYMBOLS)
    except (OSError, ELFError, ValueError):
        return False
