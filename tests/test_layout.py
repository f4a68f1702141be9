"""The layout keeps its promises: data flows one way, no import cycle, small modules."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "caffelog"
# each stage may import only from stages before it (diagnose and output are peers)
STAGES = {"errors": 0, "version": 0, "printable": 0, "staging": 0, "user_cache": 0, "interrupt": 0,
          "source": 1, "parse": 2, "tables": 3, "engines": 4, "diagnose": 5, "output": 5, "pages": 6, "runs": 6,
          "api": 7, "cli": 8, "__init__": 8}
MAX_LINES = 350


def modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in PACKAGE.rglob("*.py")}


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Every caffelog module a file imports, at the top or inside a function."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("caffelog"):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known}
    return out & set(known)


def stage(module: str) -> int:
    parts = module.split(".")
    return STAGES[parts[1] if len(parts) > 1 else "__init__"]


@pytest.mark.parametrize("module", sorted(modules()))
def test_a_module_imports_only_earlier_stages(module):
    known = modules()
    later = {m for m in imports(known[module], known) if m != "caffelog" and stage(m) > stage(module)}
    peers = {m for m in imports(known[module], known) if m != "caffelog" and stage(m) == stage(module)
             and m.split(".")[1] != module.split(".")[1]}
    assert not later and not peers


def test_no_import_cycle():
    known = modules()
    graph = {m: imports(p, known) - {m} for m, p in known.items()}
    done: set[str] = set()

    def visit(m: str, path: tuple[str, ...]) -> None:
        assert m not in path, " -> ".join(path + (m,))
        if m in done:
            return
        for d in graph[m]:
            visit(d, path + (m,))
        done.add(m)

    for m in graph:
        visit(m, ())


def test_no_module_is_long():
    long = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_rules_holds_only_rules():
    from caffelog.diagnose.rules import RULES
    files = {p.stem for p in (PACKAGE / "diagnose" / "rules").glob("*.py")} - {"__init__"}
    assert files == {rule.__module__.rsplit(".", 1)[1] for rule in RULES.values()}
