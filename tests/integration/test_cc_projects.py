"""kraftld-cc for real: a small C project of the test's own — a configure script that probes with
$CC as autoconf's do, and a Makefile with a static library — built with `CC=kraftld-cc` against
the kit's Unikraft and lib-musl (no Kraftfile: kraftld-cc's default configuration), then booted.

Needs KRAFTLD_TEST_SOURCES (the offline mirror with lib-musl and the musl archive).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from realboot import Tools

# Probes the way autoconf does: compile, link, a header, a function that glibc's headers would
# rename (fcntl → fcntl64 with _FILE_OFFSET_BITS=64), and whether the result runs on the host.
CONFIGURE = r"""#!/bin/sh
set -u
: "${CC:=cc}"
: "${CFLAGS:=}"
log=config.log
: > $log
check() { printf 'checking %s... ' "$1"; }
cat > conftest.c <<'EOF'
int main(void) { return 0; }
EOF
check "whether $CC compiles"
$CC $CFLAGS -c conftest.c -o conftest.o >>$log 2>&1 && echo yes || { echo no; exit 1; }
check "whether $CC links"
$CC $CFLAGS conftest.c -o conftest >>$log 2>&1 && echo yes || { echo no; exit 1; }
check "whether we are cross compiling"
if ./conftest >>$log 2>&1; then cross=no; else cross=yes; fi
echo $cross
check "for fcntl.h"
printf '#include <fcntl.h>\nint main(void) { return 0; }\n' > conftest.c
$CC $CFLAGS -c conftest.c -o conftest.o >>$log 2>&1 && have_fcntl_h=1 || have_fcntl_h=0
echo $have_fcntl_h
check "for fcntl"
cat > conftest.c <<'EOF'
#define _FILE_OFFSET_BITS 64
#include <fcntl.h>
int main(void) { return fcntl(0, F_GETFD) == -2; }
EOF
$CC $CFLAGS conftest.c -o conftest >>$log 2>&1 && have_fcntl=1 || have_fcntl=0
echo $have_fcntl
check "for a function nothing defines"
printf 'int no_such_function(void);\nint main(void) { return no_such_function(); }\n' > conftest.c
$CC $CFLAGS conftest.c -o conftest >>$log 2>&1 && have_none=1 || have_none=0
echo $have_none
check "the preprocessor"
printf '#include <stdio.h>\n#ifdef __Unikraft__\nunikraft_headers\n#endif\n' > conftest.c
$CC -E conftest.c 2>>$log | grep -q unikraft_headers && echo ok || { echo no; exit 1; }
rm -f conftest conftest.dbg conftest.c conftest.o
cat > config.h <<EOF
#define HAVE_FCNTL_H $have_fcntl_h
#define HAVE_FCNTL $have_fcntl
#define HAVE_NO_SUCH_FUNCTION $have_none
#define CROSS_COMPILING "$cross"
EOF
"""

MAKEFILE = """\
CFLAGS ?= -O2
OBJS = main.o
all: prog
libwords.a: words.o
\tar rcs $@ $^
prog: $(OBJS) libwords.a
\t$(CC) $(CFLAGS) -o $@ $(OBJS) -L. -lwords
%.o: %.c config.h words.h
\t$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
clean:
\trm -f prog prog.dbg *.o *.d libwords.a
"""

WORDS_H = "int count_words(const char *text);\n"
WORDS_C = """#include <ctype.h>
#include "words.h"
int count_words(const char *text) {
    int count = 0, inside = 0;
    for (; *text; text++) {
        if (isspace((unsigned char)*text)) inside = 0;
        else if (!inside) { inside = 1; count++; }
    }
    return count;
}
"""
MAIN_C = """#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "words.h"
#if HAVE_FCNTL_H
#include <fcntl.h>
#endif
int main(int argc, char **argv) {
    int total = 0;
    for (int i = 1; i < argc; i++) total += count_words(argv[i]);
    printf("%d words in %d arguments\\n", total, argc - 1);
#if HAVE_FCNTL
    int fd = open("/note", O_CREAT | O_WRONLY, 0644);
    printf("fcntl says %d\\n", fcntl(fd, F_GETFD));
    close(fd);
#endif
    printf("no_such_function: %d, cross compiling: %s\\n", HAVE_NO_SUCH_FUNCTION, CROSS_COMPILING);
    char *copy = strdup("heap ok");
    puts(copy);
    free(copy);
    return total;
}
"""


@pytest.fixture(scope="module")
def cc_tools(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> Tools:
    sources = os.environ.get("KRAFTLD_TEST_SOURCES")
    if not sources:
        pytest.skip("set KRAFTLD_TEST_SOURCES to an offline mirror with unikraft/, lib-musl/ and archives/")
    script = tools.bin / "kraftld-cc"
    if not script.exists():
        script.write_text(f'#!/bin/sh\nexec {sys.executable} -m kraftld.cc "$@"\n')
        script.chmod(0o755)
    environ = {**tools.environ, "KRAFTLD_SOURCES": sources}
    return Tools(environ, tools.work, tools.bin)


def make_project(folder: Path) -> Path:
    folder.mkdir()
    for name, text in (
        ("configure", CONFIGURE),
        ("Makefile", MAKEFILE),
        ("words.h", WORDS_H),
        ("words.c", WORDS_C),
        ("main.c", MAIN_C),
    ):
        (folder / name).write_text(text)
    (folder / "configure").chmod(0o755)
    return folder


def test_configure_and_make_with_kraftld_cc(cc_tools: Tools, tmp_path: Path) -> None:
    project = make_project(tmp_path / "words")
    env = {**cc_tools.environ, "CC": "kraftld-cc", "CFLAGS": "-O2 -g -fno-pic"}
    configure = subprocess.run(["./configure"], cwd=project, env=env, capture_output=True, text=True, timeout=1800)
    assert configure.returncode == 0, configure.stdout + configure.stderr + (project / "config.log").read_text()
    assert configure.stdout.splitlines() == [
        "checking whether kraftld-cc compiles... yes",
        "checking whether kraftld-cc links... yes",
        # the image is a multiboot kernel, not a host program: it cannot run here
        "checking whether we are cross compiling... yes",
        "checking for fcntl.h... 1",
        "checking for fcntl... 1",
        "checking for a function nothing defines... 0",
        "checking the preprocessor... ok",
    ]
    assert "no_such_function" in (project / "config.log").read_text()  # kraftld's error, in the log
    build = subprocess.run(["make"], cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout + build.stderr
    # make's dependency files name the project's headers, not glibc's
    depends = (project / "main.d").read_text()
    assert "words.h" in depends and "/usr/include" not in depends
    nm = subprocess.run(["nm", "-u", str(project / "main.o")], capture_output=True, text=True, check=True)
    assert "fcntl" in nm.stdout.split() and "fcntl64" not in nm.stdout  # musl's names, not glibc's
    run = cc_tools.run(project / "prog", ["one two", "three"])
    assert run.stdout.decode() == (
        "3 words in 2 arguments\nfcntl says 0\nno_such_function: 0, cross compiling: yes\nheap ok\n"
    ), run.stderr
    assert run.returncode == 3


def test_compile_errors_are_gccs(cc_tools: Tools, tmp_path: Path) -> None:
    (tmp_path / "bad.c").write_text("int main(void) { return undeclared; }\n")
    result = subprocess.run(
        ["kraftld-cc", "-c", "bad.c"],
        cwd=tmp_path,
        env={**cc_tools.environ, "LC_ALL": "C"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 1
    assert "bad.c:1:25: error: 'undeclared' undeclared" in result.stderr
    assert not (tmp_path / "bad.o").exists()


def test_a_kraftfile_without_libraries_compiles_against_nolibc(cc_tools: Tools, tmp_path: Path) -> None:
    (tmp_path / "Kraftfile").write_text("spec: v0.6\nname: tiny\nunikraft: {}\nlibraries: {}\ntargets: [qemu/x86_64]\n")
    (tmp_path / "tiny.c").write_text(
        "#include <stdio.h>\n#include <string.h>\n#include <stdnoreturn.h>\n"
        'int main(int argc, char **argv) { printf("%zu %s\\n", strlen(argv[argc - 1]), argv[argc - 1]); return 4; }\n'
    )
    env = {**cc_tools.environ, "LC_ALL": "C"}
    deps = subprocess.run(
        ["kraftld-cc", "-M", "tiny.c"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert deps.returncode == 0, deps.stderr
    assert "/lib/nolibc/include/stdio.h" in deps.stdout and "/usr/include" not in deps.stdout
    # nolibc has no stdnoreturn.h: gcc's own freestanding headers come last
    assert "lib-musl" not in deps.stdout and re.search(r"/gcc/\S+/include/stdnoreturn\.h", deps.stdout)
    link = subprocess.run(
        ["kraftld-cc", "-O2", "tiny.c", "-o", "tiny"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert link.returncode == 0, link.stderr
    run = cc_tools.run(tmp_path / "tiny", ["hello"])
    assert (run.stdout, run.returncode) == (b"5 hello\n", 4), run.stderr


def _compile(cc_tools: Tools, folder: Path, env: dict[str, str], output: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["kraftld-cc", "-O2", "-c", "main.c", "-o", output],
        cwd=folder,
        env={**cc_tools.environ, "LC_ALL": "C", "KRAFTLD_LOG": "debug", **env},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_compiles_reuse_the_note_and_ccache_with_identical_objects(cc_tools: Tools, tmp_path: Path) -> None:
    """A compile after the first reads the note instead of resolving the configuration (no
    `gcc -print-file-name`, which only a resolution runs), and with ccache (kraftld's rules, a
    store of the test's own) gives the object gcc alone gives, from the store the second time."""
    project = make_project(tmp_path / "words")
    (project / "config.h").write_text(
        '#define HAVE_FCNTL_H 1\n#define HAVE_FCNTL 1\n#define HAVE_NO_SUCH_FUNCTION 0\n#define CROSS_COMPILING "yes"\n'
    )
    store = tmp_path / "ccache"
    plain = _compile(cc_tools, project, {"KRAFTLD_CCACHE": "0"}, "plain.o")
    noted = _compile(cc_tools, project, {"KRAFTLD_CCACHE": "0"}, "noted.o")
    assert "-print-file-name=include" not in noted.stderr and "git" in noted.stderr  # the trees are checked
    miss = _compile(cc_tools, project, {"KRAFTLD_CCACHE": "1", "CCACHE_DIR": str(store)}, "miss.o")
    hit = _compile(cc_tools, project, {"KRAFTLD_CCACHE": "1", "CCACHE_DIR": str(store)}, "hit.o")
    assert "ccache gcc " in miss.stderr and "ccache gcc " in hit.stderr, plain.stderr
    objects = {name: (project / name).read_bytes() for name in ("plain.o", "noted.o", "miss.o", "hit.o")}
    assert len(set(objects.values())) == 1, "the objects differ"
    stats = subprocess.run(
        ["ccache", "--print-stats"], env={**os.environ, "CCACHE_DIR": str(store)}, capture_output=True, text=True
    )
    counters = dict(line.split("\t", 1) for line in stats.stdout.splitlines() if "\t" in line)
    hits = int(counters.get("direct_cache_hit", "0")) + int(counters.get("preprocessed_cache_hit", "0"))
    assert (hits, int(counters.get("cache_miss", "0"))) == (1, 1), stats.stdout
