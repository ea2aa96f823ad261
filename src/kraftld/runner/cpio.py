"""Writes a folder as a cpio archive in the "newc" format, the initrd Unikraft's ukcpio extracts.

newc (the SVR4 format without checksums, `cpio -H newc`): per entry a 110-byte ASCII header —
the magic `070701`, then 13 fields of 8 hex digits (inode, mode, uid, gid, links, mtime, size,
device major/minor, rdev major/minor, name size with its NUL, checksum 0) — the name, NUL,
padded to 4 bytes, then the data padded to 4; the archive ends with the entry `TRAILER!!!`.
ukcpio (lib/ukcpio/cpio.c) extracts folders, regular files and symlinks, names taken relative
to the mount point; owners are not kept. Nothing else can go in: a device, a FIFO or a socket
in the folder is an error rather than a file silently missing in the guest.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from ..errors import RunError

MAGIC = b"070701"
TRAILER = "TRAILER!!!"


def write_folder(folder: str, out: BinaryIO) -> int:
    """Archive everything under `folder` (not the folder itself) to `out`; the entries written.

    Folders come before what they hold, names sorted, so the archive is the same for the same
    tree; hard links become separate copies."""
    count = 0
    inode = 1
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in [*dirs, *sorted(files)]:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, folder).replace(os.sep, "/")
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                data = os.readlink(path).encode()
                if name in dirs:
                    dirs.remove(name)  # os.walk does not follow it either; keep the link itself
            elif stat.S_ISDIR(info.st_mode):
                data = b""
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    data = handle.read()
            else:
                raise RunError(
                    f"{path} is neither a file, a folder nor a symlink: an initrd cannot carry it",
                    "leave devices, FIFOs and sockets out of the folder given to the guest",
                )
            _entry(out, relative, info.st_mode, int(info.st_mtime), data, inode)
            inode += 1
            count += 1
    _entry(out, TRAILER, 0, 0, b"", 0)
    return count


def _entry(out: BinaryIO, name: str, mode: int, mtime: int, data: bytes, inode: int) -> None:
    encoded = name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(mode) else 1
    fields = (inode, mode, 0, 0, nlink, max(mtime, 0) & 0xFFFFFFFF, len(data), 0, 0, 0, 0, len(encoded), 0)
    header = MAGIC + b"".join(b"%08X" % value for value in fields)
    out.write(header + encoded + _padding(len(header) + len(encoded)))
    out.write(data + _padding(len(data)))


def _padding(length: int) -> bytes:
    return b"\0" * (-length % 4)
