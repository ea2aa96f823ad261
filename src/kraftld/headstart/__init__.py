"""Gives a repeated fast relink a head start: its steps start before kraftld has planned.

A fast relink replays Unikraft's recorded final link steps (`execute.replay`); importing kraftld
and planning the link take Python tens of milliseconds more, which on a small program is as long
as the steps themselves. In the edit-build-run loop the same link comes again and again: the same
output from the same folder, with the same words but for the inputs' names (rustc names its
objects anew at every build). So a link that ends with a fast-relink record leaves a `Note`,
under the cache, of the line it served and of the steps it ran (`note`); when a link to the same
output comes from the same folder, kraftld starts those steps at once, one after the other in a
thread, in a link folder of its own with this line's inputs staged at the note's places, and
meanwhile imports and plans as always (`ahead`). The fast relink adopts what ran ahead only if
the plan would have run exactly those commands, in that folder, on exactly those staged inputs,
after the checks every fast relink makes; otherwise the steps are stopped and their folder
removed, and the link goes on as if nothing had started. The note is a guess: it decides
nothing the plan does not check.

This package runs before the rest of kraftld is imported, so it imports little: no dataclasses.
"""

from __future__ import annotations

from .ahead import HeadStart, begin, disabled, guess_staging
from .note import LINK_DIR_MARK, Note, note_for, note_path, output_of, read_note, remember

__all__ = [
    "LINK_DIR_MARK",
    "HeadStart",
    "Note",
    "begin",
    "disabled",
    "guess_staging",
    "note_for",
    "note_path",
    "output_of",
    "read_note",
    "remember",
]
