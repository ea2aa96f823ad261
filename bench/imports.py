#!/usr/bin/env python3
"""Draws kraftld's import graph from the code itself: which module imports which, by layer.

    python3 bench/imports.py            # each module, its size, what it imports; then the layers
    python3 bench/imports.py --dot      # the same graph for Graphviz: ... | dot -Tsvg > imports.svg

Read with `ast`, nothing imported or run. Imports made only for type checking (under
`if TYPE_CHECKING:`) are left out, as are imports inside functions when `--top-level` is given:
those are the ones that shape start-up. Layer 0 imports no other kraftld module; a module's layer
is one more than the highest layer it imports, so arrows only point down. A cycle is reported.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "kraftld"


def module_name(path: Path) -> str:
    parts = ["kraftld", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def imports_of(path: Path, modules: set[str], *, top_level: bool) -> set[str]:
    """The kraftld modules `path` imports at run time."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    visit(other, in_function)
                continue
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom) and not (top_level and inner):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    candidate = f"{base}.{alias.name}"
                    found.add(candidate if candidate in modules else base)
            elif isinstance(child, ast.Import) and not (top_level and inner):
                found.update(alias.name for alias in child.names)
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return {m for m in found if m in modules and m != name}


def layers(graph: dict[str, set[str]]) -> dict[str, int]:
    level: dict[str, int] = {}
    visiting: list[str] = []

    def depth(module: str) -> int:
        if module in level:
            return level[module]
        if module in visiting:
            raise SystemExit("import cycle: " + " -> ".join([*visiting[visiting.index(module) :], module]))
        visiting.append(module)
        level[module] = 1 + max((depth(m) for m in graph[module]), default=-1)
        visiting.pop()
        return level[module]

    for module in graph:
        depth(module)
    return level


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dot", action="store_true", help="print the graph in Graphviz's dot language")
    parser.add_argument("--top-level", action="store_true", help="leave out imports made inside functions")
    options = parser.parse_args()
    files = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
    graph = {name: imports_of(path, set(files), top_level=options.top_level) for name, path in files.items()}
    level = layers(graph)
    if options.dot:
        print("digraph kraftld {\n  rankdir=TB; node [shape=box, fontsize=10];")
        for name in sorted(graph):
            print(f'  "{name}";')
            for target in sorted(graph[name]):
                print(f'  "{name}" -> "{target}";')
        print("}")
        return 0
    width = max(len(name) for name in graph)
    for name in sorted(graph, key=lambda n: (-level[n], n)):
        size = len(files[name].read_text(encoding="utf-8").splitlines())
        short = ", ".join(sorted(m.removeprefix("kraftld.") for m in graph[name])) or "-"
        print(f"{level[name]:2}  {name:{width}}  {size:4} lines  imports: {short}")
    edges = sum(len(targets) for targets in graph.values())
    print(f"\n{len(graph)} modules, {edges} imports, {max(level.values()) + 1} layers, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
