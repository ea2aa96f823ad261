"""Places the archives a configured build would download, from the offline mirror; make names them.

Which file a library downloads can depend on its configuration: lib-lwip picks its archive's URL
inside `ifeq` branches of its Makefile.uk (UNIKRAFT-2_1_x.zip for its default version, another
for each other choice), so no reading of the Makefile.uk short of make itself gets it right. So
kraftld asks make: after `make defconfig`, `make -n fetch` with Unikraft's `WGET` replaced by a
marker word lists the download commands make would run for the configured `.config`, with their
destinations and URLs (only those whose file is not there yet). Each file is then copied from
the mirror's `archives/` under its URL's base name, or the link stops naming the missing file.

And make itself cannot download while a mirror is set: the build runs with `WGET` set to a
command that refuses, naming the file, so a download kraftld did not foresee fails the build
instead of reaching the network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass

from .atomic import replacing, write_atomically
from .commands import Command, describe_failure
from .errors import BuildError
from .layout import EntryLayout

TYPE_CHECKING = False  # as in cli.py: `typing` is not imported at run time
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .commands import ProcessRunner

# Stands for Unikraft's $(WGET) in the dry run, so its download commands can be found.
MARKER = "kraftld-would-download"
# Unikraft's download recipes are `$(WGET) -O DESTINATION URL || …` (support/build/Makefile.rules).
_DOWNLOAD = re.compile(re.escape(MARKER) + r" -O (\S+) (\S+)")

# The build's WGET while a mirror is set: a download recipe that runs prints why it refuses and
# fails (Unikraft's recipe then removes the file and the build stops where it is unpacked). Not a
# make `$(error …)`: make expands every command-line variable into each recipe's environment, so
# that would stop the first recipe of all. And no `$` in it: Unikraft's fetch rule expands WGET
# once inside `$(call …)` and again in the recipe, so a shell `$` would need an escape that
# depends on how the rule is written. Unikraft prints the URL on the line before (`WGET lib: URL`).
REFUSED = "kraftld: refused to download"
REFUSING_WGET = (
    f"WGET=sh -c 'echo \"{REFUSED} the file of the line above: KRAFTLD_SOURCES is set and kraftld "
    "never downloads then; put the file in the mirror archives/ folder\" >&2; exit 1' kraftld-no-download"
)

@dataclass(frozen=True)
class Download:
    """A file the configured build would fetch: where make puts it and where from."""

    destination: str
    url: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def query_command(make_base: tuple[str, ...], env: Mapping[str, str] | None) -> Command:
    """`make -n fetch` with the build's own variables, WGET replaced by the marker."""
    return Command((*make_base, f"WGET={MARKER}", "-n", "fetch"), env=env)


def parse_query(lines: Iterable[str]) -> list[Download]:
    """The downloads in the dry run's output, each destination once (fetchas2 tries two URLs)."""
    found: dict[str, Download] = {}
    for line in lines:
        for destination, url in _DOWNLOAD.findall(line):
            found.setdefault(destination, Download(destination, url))
    return list(found.values())


def preseed(
    query: Command,
    archives: str,
    entry: str,
    defconfig: str,
    runner: ProcessRunner,
    log_path: str,
    *,
    configured: bool,
) -> list[tuple[str, str]]:
    """Copy what the configured build would download from `archives`; return (source, destination).

    make is asked once per configuration: its answer is recorded in the cache entry beside the
    options it was given for, and read back by the next full build of the same configuration.
    """
    record = EntryLayout(entry).downloads
    downloads = None if configured else _load_record(record, defconfig)
    if downloads is None:
        lines: list[str] = []
        with open(log_path, "a", encoding="utf-8", errors="replace") as log_file:
            log_file.write(f"$ {query.shell_quoted()}\n")
            completed = runner(query, log_file=log_file, on_line=lines.append)
        if completed.returncode != 0:
            raise BuildError(
                "make could not list the files the build would download",
                "check the libraries' Makefile.uk; the output's last lines are below",
                details=describe_failure(completed),
            )
        downloads = parse_query(lines)
        _save_record(record, defconfig, downloads)
    placed = []
    for download in downloads:
        if os.path.exists(download.destination):
            continue
        source = os.path.join(archives, download.filename)
        if not os.path.isfile(source):
            raise BuildError(
                f"KRAFTLD_SOURCES has no {download.filename}, which the build would download from {download.url}",
                f"put the file at {source}; kraftld never downloads when KRAFTLD_SOURCES is set",
            )
        os.makedirs(os.path.dirname(download.destination), exist_ok=True)
        with replacing(download.destination) as temporary:
            shutil.copyfile(source, temporary.temporary)
        placed.append((source, download.destination))
    return placed


def _load_record(path: str, defconfig: str) -> list[Download] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if data["defconfig"] != defconfig:
            return None
        return [Download(str(d), str(u)) for d, u in data["downloads"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_record(path: str, defconfig: str, downloads: list[Download]) -> None:
    data = {"defconfig": defconfig, "downloads": [[d.destination, d.url] for d in downloads]}
    write_atomically(path, json.dumps(data).encode())
