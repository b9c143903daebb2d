"""No shell is ever given a file name: the code never starts a shell at all."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "whisper_automation"
SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"),
               ("subprocess", "getstatusoutput")}


def shell_uses(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if (isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name)
                and (function.value.id, function.attr) in SHELL_CALLS):
            found.append(f"{function.value.id}.{function.attr} line {node.lineno}")
        for keyword in node.keywords:
            if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant)
                                               and keyword.value.value is False):
                found.append(f"shell= line {node.lineno}")
    return found


def test_the_scanner_finds_a_shell_call() -> None:
    sample = "import os, subprocess\nos.system('x')\nsubprocess.run('x', shell=True)\n"
    assert len(shell_uses(ast.parse(sample))) == 2


def test_no_module_starts_a_shell() -> None:
    offenders = {str(path.relative_to(SOURCE)): shell_uses(ast.parse(path.read_text()))
                 for path in SOURCE.rglob("*.py")}
    assert {path: uses for path, uses in offenders.items() if uses} == {}
