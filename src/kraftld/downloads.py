"""Answers Unikraft's downloads from the offline mirror: make's WGET is a script of kraftld's that copies.

Which file a library downloads can depend on its configuration: lib-lwip picks its archive's URL
inside `ifeq` branches of its Makefile.uk (UNIKRAFT-2_1_x.zip for its default version, another
for each other choice), so no reading of the Makefile.uk short of make itself gets it right. So
make itself decides, in the build: while KRAFTLD_SOURCES is set the build runs with `WGET` set to
a small POSIX sh script kept in the cache's runtime folder, which answers Unikraft's download
recipe (`$(WGET) -O DESTINATION URL || $(RM) DESTINATION`, support/build/Makefile.rules `fetchas`
and `fetchas2`) by copying the mirror's `archives/<URL's base name>` to DESTINATION. wget itself
is never run, so make cannot reach the network for an archive.

A file the mirror lacks fails the recipe (Unikraft's `|| $(RM)` then leaves no file, and the build
stops where it would unpack it); the script writes a line to the cache entry's note, which kraftld
reads when make fails to name the file, its URL and where to put it. (Asking `make -n fetch`
before the build, as kraftld once did, cost a second parse of all of Unikraft's makefiles: ~3 s of
every cold build.)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
from dataclasses import dataclass

from .atomic import write_atomically
from .errors import BuildError
from .layout import CacheLayout

# The script's text; {archives} is the mirror's archives/ folder, shell-quoted. Its arguments are
# the note's path (from the WGET word), then Unikraft's `-O DESTINATION URL`. No `$` may appear in
# the WGET word itself (Unikraft's fetch rule expands it twice: once inside `$(call …)`, once in
# the recipe), so everything variable lives here and the word is two plain paths.
_SCRIPT = """\
#!/bin/sh
# kraftld's WGET while KRAFTLD_SOURCES is set (kraftld's downloads.py): Unikraft's download recipe
# `$(WGET) -O DESTINATION URL` copies the mirror's archives/<URL's base name>; nothing is downloaded.
archives={archives}
note=$1
if [ "$#" -ne 4 ] || [ "$2" != -O ]; then
    [ "$#" -gt 0 ] && shift
    echo "kraftld: the mirror's download stand-in expects -O DESTINATION URL, not: $*" >&2
    exit 2
fi
destination=$3
url=$4
source=$archives/${{url##*/}}
if [ -f "$source" ]; then
    # A whole file or none: the copy is renamed into place.
    cp "$source" "$destination.kraftld-part" && mv -f "$destination.kraftld-part" "$destination" && {{
        echo "kraftld: copied $source to $destination (KRAFTLD_SOURCES; no download)" >&2
        exit 0
    }}
    rm -f "$destination.kraftld-part"
    echo "kraftld: could not copy $source to $destination" >&2
    exit 1
fi
printf '%s\\t%s\\t%s\\n' "$destination" "$url" "$source" >>"$note"
echo "kraftld: KRAFTLD_SOURCES has no ${{url##*/}} (wanted from $url): put the file at $source" >&2
exit 1
"""


@dataclass(frozen=True)
class MirrorFetch:
    """How the build's downloads are answered from the mirror: the script, its text, the note."""

    archives: str  # KRAFTLD_SOURCES's archives/
    script: str  # in the cache's runtime folder, named by a digest of its text
    text: str
    note: str  # in the cache entry: one line per file the mirror lacked, written by the script

    @property
    def wget_variable(self) -> str:
        """The WGET= word for make (both paths are under the cache, which plan.py keeps plain)."""
        return f"WGET={self.script} {self.note}"


@dataclass(frozen=True)
class Missing:
    """A file the build wanted and the mirror lacks: where make wanted it, its URL, where it belongs."""

    destination: str
    url: str
    source: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    def error(self) -> BuildError:
        return BuildError(
            f"KRAFTLD_SOURCES has no {self.filename}, which the build would download from {self.url}",
            f"put the file at {self.source}; kraftld never downloads when KRAFTLD_SOURCES is set",
        )


def plan_fetch(cache: str, archives: str, note: str) -> MirrorFetch:
    """The script answering downloads from `archives` (pure: `prepare` writes it)."""
    text = _SCRIPT.format(archives=shlex.quote(archives))
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return MirrorFetch(archives, CacheLayout(cache).fetch_script(digest), text, note)


def prepare(fetch: MirrorFetch) -> None:
    """Write the script unless the cache has it (its name is its text's digest); drop an old note."""
    if not os.path.isfile(fetch.script):
        os.makedirs(os.path.dirname(fetch.script), exist_ok=True)
        write_atomically(fetch.script, fetch.text.encode("utf-8", "surrogateescape"), mode=0o755)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(fetch.note)


def missing(fetch: MirrorFetch) -> Missing | None:
    """The first file the failed build wanted and still lacks, as the script noted it, or None.

    A file noted and then placed (fetchas2's second URL had it in the mirror) is not missing.
    """
    try:
        with open(fetch.note, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        fields = line.split("\t")
        if len(fields) == 3 and not os.path.exists(fields[0]):
            return Missing(*fields)
    return None
