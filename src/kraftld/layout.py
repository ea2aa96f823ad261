"""Names every path under kraftld's cache folder (KRAFTLD_CACHE), and the formats of what it holds.

    <cache>/builds/<key>/        one Unikraft build per configuration (`BuildConfig.key`)
        app/ build/ config defconfig defconfig.pending
        inputs/ outputs/         the staged compiler inputs and the side outputs (-Map files)
        link.manifest build.log build.running lock
        prebuilt.json            the record a fast relink replays (`execute.replay`)
        downloads.missing        the files the last build wanted and the mirror lacked (`downloads`)
        links/<pid>-<random>/    one folder per fast relink: inputs/ and outputs/ again
    <cache>/runtime/             kraftld's runtime object and compiler launcher (what make
                                 compiles through, with ccache or distcc), by digest of source and command,
                                 and the script make downloads through with a mirror (`downloads`)
    <cache>/sources/             clones of Unikraft and its libraries, by URL and version; beside
                                 each, `<clone>.lock`, held by links that use it (`cache_prune`)
    <cache>/headstart/           notes of the last fast relink per output and folder
    <cache>/kvm/                 whether KVM works, per kernel release and QEMU
    <cache>/symbols/             the inputs' and libraries' symbol tables (`symbols`, `exports`)
    <cache>/sysroot/             Rust std sysroots for the Unikraft target, by rustc (`sysroot`),
                                 each with its `<sysroot>.lock` beside
    <cache>/progress/            object counts of past builds, for the next one's percentage
    <cache>/ccache/              ccache's own cache, unless CCACHE_DIR names another (`ccache`),
        kraftld-objects/         with the launcher's object store in it (`objects`)
        kraftld-kconfig/         and Unikraft's kconfig tools, kept once (`kconfig_tools`)
    <cache>/cc/                  kraftld-cc's notes of resolved configurations (`cc.note`)

The head start reads this before the rest of kraftld is imported, so this module imports only
`os` (no dataclasses: the two types below are small, read-only by their properties).
"""

from __future__ import annotations

import os

# Part of every build's cache key: raise it when a build folder made by an older kraftld must not
# be reused (the key also holds kraftld's version).
CACHE_FORMAT = 2  # 2: make's A= is the shipped application (plan.APP_FOLDER)
# The fast-relink record's format (prebuilt.json) and the head-start note's: a file of another
# format is ignored, as if absent.
RECORD_FORMAT = 1
NOTE_FORMAT = 3

# The sub-folders, of a build entry and of each fast relink's own folder, that hold the staged
# inputs and the side outputs: relocating a path from one to the other relies on it.
INPUTS_DIR = "inputs"
OUTPUTS_DIR = "outputs"


class CacheLayout:
    """The cache folder's parts."""

    __slots__ = ("root",)

    def __init__(self, root: str) -> None:
        self.root = root

    @property
    def builds(self) -> str:
        return os.path.join(self.root, "builds")

    def entry(self, key: str) -> EntryLayout:
        return EntryLayout(os.path.join(self.builds, key))

    @property
    def runtime(self) -> str:
        return os.path.join(self.root, "runtime")

    def runtime_object(self, digest: str) -> str:
        return os.path.join(self.runtime, f"kraftld_runtime-{digest}.o")

    def launcher(self, digest: str) -> str:
        """The compiler launcher Unikraft's make compiles through (ccache, distcc: `ccache`)."""
        return os.path.join(self.runtime, f"kraftld_cc_launcher-{digest}")

    def fetch_script(self, digest: str) -> str:
        """What make runs as WGET while a mirror is set: copies from its archives/ (`downloads`)."""
        return os.path.join(self.runtime, f"kraftld_fetch-{digest}")

    @property
    def sources(self) -> str:
        return os.path.join(self.root, "sources")

    def source(self, repo: str, digest: str) -> str:
        return os.path.join(self.sources, f"{repo}-{digest}")

    @property
    def headstart(self) -> str:
        return os.path.join(self.root, "headstart")

    def note(self, name: str) -> str:
        return os.path.join(self.headstart, name)

    @property
    def symbols(self) -> str:
        return os.path.join(self.root, "symbols")

    def symbol_table(self, name: str) -> str:
        return os.path.join(self.symbols, f"{name}.json")

    @property
    def sysroots(self) -> str:
        return os.path.join(self.root, "sysroot")

    def sysroot(self, name: str) -> str:
        return os.path.join(self.sysroots, name)

    @property
    def progress(self) -> str:
        return os.path.join(self.root, "progress")

    def progress_record(self, digest: str) -> str:
        return os.path.join(self.progress, f"{digest}.json")

    @property
    def kvm(self) -> str:
        return os.path.join(self.root, "kvm")

    def kvm_verdict(self, kernel_release: str, qemu: str) -> str:
        """Where the verdict on KVM for this kernel and QEMU binary is kept: a new kernel or
        another QEMU (by its resolved path) asks again."""
        import hashlib  # only the runner asks, not the link path's start-up

        resolved = os.path.realpath(qemu) if os.sep in qemu else qemu
        digest = hashlib.sha256(resolved.encode(errors="surrogateescape")).hexdigest()[:12]
        safe = "".join(c if c.isalnum() else "_" for c in f"{kernel_release}-{os.path.basename(qemu)}")
        return os.path.join(self.kvm, f"{safe}-{digest}")

    @property
    def ccache(self) -> str:
        """ccache's own cache, unless CCACHE_DIR names another (`ccache`)."""
        return os.path.join(self.root, "ccache")

    @property
    def cc_notes(self) -> str:
        return os.path.join(self.root, "cc")

    def cc_note(self, digest: str) -> str:
        """kraftld-cc's note of the configuration its compiles resolved (`cc.note`)."""
        return os.path.join(self.cc_notes, f"{digest}.json")


class EntryLayout:
    """One build's folder: `<cache>/builds/<key>`."""

    __slots__ = ("root",)

    def __init__(self, root: str) -> None:
        self.root = root

    def _at(self, name: str) -> str:
        return os.path.join(self.root, name)

    @property
    def app(self) -> str:
        """A copy of kraftld's application, used as A= only where the package's own path is not plain."""
        return self._at("app")

    @property
    def build(self) -> str:
        """Unikraft's build folder (O=)."""
        return self._at("build")

    @property
    def config(self) -> str:
        """The .config (C=)."""
        return self._at("config")

    @property
    def defconfig(self) -> str:
        """The options the .config was made from."""
        return self._at("defconfig")

    @property
    def pending_defconfig(self) -> str:
        """Options being configured."""
        return self._at("defconfig.pending")

    @property
    def inputs(self) -> str:
        """The staged inputs of a full build."""
        return self._at(INPUTS_DIR)

    @property
    def outputs(self) -> str:
        """The side outputs of a full build."""
        return self._at(OUTPUTS_DIR)

    @property
    def manifest(self) -> str:
        """What the final link reads."""
        return self._at("link.manifest")

    @property
    def log(self) -> str:
        """Make's output, every build."""
        return self._at("build.log")

    @property
    def build_marker(self) -> str:
        """Present while make builds."""
        return self._at("build.running")

    @property
    def lock(self) -> str:
        """Shared by fast relinks, exclusive for make."""
        return self._at("lock")

    @property
    def record(self) -> str:
        """What a fast relink replays."""
        return self._at("prebuilt.json")

    @property
    def missing_downloads(self) -> str:
        """The files the last build wanted and the mirror lacked, noted by kraftld's WGET (`downloads`)."""
        return self._at("downloads.missing")

    @property
    def links(self) -> str:
        """Where fast relinks make their own folders."""
        return self._at("links")

    def link_folder(self, name: str) -> str:
        return os.path.join(self.links, name)
