"""The package's import structure: no cycles, and the transcription path below the engines.

Read from the source (every import statement, including those inside functions, which run
too), not from sys.modules, so a lazy import that closes a cycle is caught as well."""

from __future__ import annotations

import ast
from pathlib import Path

import whisper_automation

PACKAGE = Path(whisper_automation.__file__).resolve().parent
NAME = PACKAGE.name
# The transcription path's modules below the engines: an engine may import them, never the
# reverse (the worker hands the pipeline an engine; the pipeline only calls transcribe_speech).
BELOW_THE_ENGINES = ("transcription.pipeline", "transcription.windows", "transcription.speech",
                     "transcription.audio", "transcription.coverage", "errors")


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(node: ast.AST, package: str) -> list[str]:
    """The dotted names an import statement may load, relative imports resolved."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = package.split(".")[:len(package.split(".")) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [target] + [f"{target}.{alias.name}" for alias in node.names]


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Each module of the package -> the modules of the package it imports."""
    paths = {module_name(path, root): path for path in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = {target for node in ast.walk(tree)
                       for target in imported_names(node, package)
                       if target in paths and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_sees_a_cycle_through_a_lazy_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("def f():\n    from ..a import x\n")
    (package / "c.py").write_text("from . import a\n")
    assert cycles(import_graph(package)) == [["pkg.a", "pkg.sub.b"]]


def test_the_transcription_path_never_imports_an_engine() -> None:
    graph = import_graph()
    engines = {name for name in graph if name.startswith(f"{NAME}.transcription.engines")}
    for module in BELOW_THE_ENGINES:
        assert graph[f"{NAME}.{module}"] & engines == set(), module


def test_the_error_vocabulary_imports_nothing_of_the_package() -> None:
    assert import_graph()[f"{NAME}.errors"] == set()


def subpackage(module: str) -> str:
    """`whisper_automation.jobs.worker` -> `jobs`; a top-level module is its own name."""
    return module.split(".")[1]


# What each part may import besides itself: the transcription path knows nothing of queues,
# storage or the web page; storage knows nothing of the queue or the page (it renders missing
# formats from its records with the transcription path's writers).
MAY_IMPORT = {
    "transcription": {"errors", "settings"},
    "storage": {"errors", "settings", "transcription"},
}


def test_each_part_imports_only_the_parts_below_it() -> None:
    crossing = sorted(
        f"{module} -> {target}" for module, targets in import_graph().items()
        for target in targets
        if subpackage(module) in MAY_IMPORT and subpackage(target) != subpackage(module)
        and subpackage(target) not in MAY_IMPORT[subpackage(module)])
    assert crossing == []
