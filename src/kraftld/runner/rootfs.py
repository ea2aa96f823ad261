"""The files the guest's root starts with: `--initrd FILE|DIR`, else the Kraftfile's `rootfs:`,
handed to QEMU as the initrd and extracted at / by the guest.

The Kraftfile is the one kraftld links with: the nearest in the runner's folder or above it (as
cargo runs the linker and the runner from the package's folder); its `rootfs:` is relative to
its own folder. A folder is packed into a cpio newc archive (cpio.py) for each run, so edited
files need no new link; a file is passed on as it is, and must be a cpio newc archive.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import ConfigError, RunError
from ..kraftfile import find_kraftfile, load_kraftfile
from ..logs import log
from . import cpio

CPIO_NEWC_MAGIC = b"070701"


@dataclass(frozen=True)
class Initrd:
    path: str  # absolute: a folder or a cpio file
    origin: str  # "--initrd" or the Kraftfile's path, for messages


def initrd_source(initrd: str | None, cwd: str) -> Initrd | None:
    """What the guest gets as its initrd, or None for an empty root."""
    if initrd is not None:
        return _checked(Initrd(initrd, "--initrd"))
    path = find_kraftfile(cwd)
    if path is None:
        return None
    try:
        rootfs = load_kraftfile(path).rootfs
    except ConfigError as error:
        log.info("not reading rootfs from %s: %s", path, error.message)
        return None
    return None if rootfs is None else _checked(Initrd(rootfs, f"rootfs in {path}"))


def _checked(source: Initrd) -> Initrd:
    if os.path.isdir(source.path):
        return source
    if not os.path.isfile(source.path):
        raise RunError(f"{source.origin}: no file or folder {source.path}", "give a folder, or a cpio (newc) file")
    with open(source.path, "rb") as handle:
        if handle.read(len(CPIO_NEWC_MAGIC)) != CPIO_NEWC_MAGIC:
            raise RunError(
                f"{source.origin}: {source.path} is not a cpio archive in the newc format",
                "give the folder itself, or make the archive with `cpio -o -H newc`",
            )
    return source


def prepare(source: Initrd, folder: str) -> str:
    """The initrd file QEMU loads, under a plain name in `folder` (QEMU's -initrd splits its
    value at commas): the folder packed, or a link to the archive."""
    staged = os.path.join(folder, "initrd.cpio")
    if os.path.isdir(source.path):
        with open(staged, "wb") as out:
            entries = cpio.write_folder(source.path, out)
        log.info("initrd: %s packed (%d entries, %d bytes)", source.path, entries, os.path.getsize(staged))
    else:
        os.symlink(source.path, staged)
        log.info("initrd: %s", source.path)
    return staged
