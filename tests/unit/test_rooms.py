"""The rooms hold, read from the source with ast: rules/ is pure (no httpx, web3, pytest, sources/ or
settings, not even imported lazily); the sandbox imports nothing of the CLI and the CLI nothing of the
sandbox; the module-level imports of belt_gate/ form no circle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "belt_gate"
CLI = ("belt_gate.cli", "belt_gate.golden_cli", "belt_gate.watch_cli", "belt_gate.rollback_cli", "belt_gate.demo")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, module: str) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = module.split(".")
        if MODULES[module].name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    yield base
    for alias in node.names:  # `from belt_gate.rules import counts` imports the module belt_gate.rules.counts
        if f"{base}.{alias.name}" in MODULES:
            yield f"{base}.{alias.name}"


def imports(module: str, *, top_level_only: bool) -> set[str]:
    """What `module` imports: everywhere (functions, TYPE_CHECKING too), or only what runs at import time."""
    tree = ast.parse(MODULES[module].read_text())
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.update(_targets(node, module))
            elif isinstance(node, ast.If):
                if not (top_level_only and _type_checking(node)):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif not top_level_only:
                for child in ast.walk(node):
                    if isinstance(child, ast.Import | ast.ImportFrom):
                        found.update(_targets(child, module))

    visit(tree.body)
    return found


def _within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


RULES = sorted(m for m in MODULES if _within(m, "belt_gate.rules"))


@pytest.mark.parametrize("module", RULES)
def test_rules_import_no_io_no_pytest_no_sources_and_no_settings(module: str) -> None:
    forbidden = ("httpx", "web3", "pytest", "belt_gate.sources", "belt_gate.settings", "belt_gate.snapshot")
    bad = sorted(i for i in imports(module, top_level_only=False) if _within(i, *forbidden))
    assert bad == [], f"{module} imports {bad}"


def test_the_sandbox_imports_nothing_of_the_cli_and_the_cli_nothing_of_the_sandbox() -> None:
    sandbox = [m for m in MODULES if _within(m, "belt_gate.sandbox")]
    assert len(sandbox) > 10
    for module in sandbox:
        bad = sorted(i for i in imports(module, top_level_only=False) if _within(i, *CLI))
        assert bad == [], f"{module} imports {bad}"
    for module in ("belt_gate.golden_cli", "belt_gate.golden_capture", "belt_gate.golden"):
        bad = sorted(i for i in imports(module, top_level_only=False) if _within(i, "belt_gate.sandbox"))
        assert bad == [], f"{module} imports {bad}"


def test_golden_capture_reads_belts_through_sources_only() -> None:
    for module in ("belt_gate.golden_cli", "belt_gate.golden_capture"):
        assert "httpx" not in imports(module, top_level_only=False), module


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def graph(*, top_level_only: bool) -> dict[str, set[str]]:
    """module -> the belt_gate modules it imports (a module's own ancestor packages left out: Python runs
    a package's __init__ before its modules in any case)."""
    return {
        m: {i for i in imports(m, top_level_only=top_level_only) if i in MODULES and not _within(m, i)} for m in MODULES
    }


def test_no_import_circle_at_import_time() -> None:
    assert _cycle(graph(top_level_only=True)) is None


def test_the_circle_finder_finds_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle_in_belt_gate_even_through_lazy_and_type_imports() -> None:
    """No circle anywhere in belt_gate/, the sandbox and the CLI commands included, counting imports made
    inside functions and for types only."""
    assert _cycle(graph(top_level_only=False)) is None
