"""Imports go one way (docs/architecture.md): every import in the repository, function-local ones too.

    common  <-  jobs, infra  <-  cli  <-  harness  <-  bench, tests

A package may import its own modules and those of the layers below it; `jobs` and `infra` sit side
by side and do not import each other; and no job imports another job (`jobs.registry` names them by
string).
"""

from __future__ import annotations

import ast
from pathlib import Path

from common.config import REPO_ROOT

LAYER = {"common": 0, "jobs": 1, "infra": 1, "cli": 2, "harness": 3, "bench": 4, "tests": 4}


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def _violation(source: Path, imported: str) -> str | None:
    package = source.relative_to(REPO_ROOT).parts
    mine, theirs = package[0], imported.split(".")[0]
    if theirs not in LAYER or theirs == mine:
        if mine == theirs == "jobs" and len(package) > 2:  # jobs/<job>/module.py
            other = imported.split(".")[1] if "." in imported else ""
            if other not in ("", package[1]):
                return f"job {package[1]} imports job {other}"
        return None
    if LAYER[theirs] >= LAYER[mine]:
        return f"{mine} (layer {LAYER[mine]}) imports {theirs} (layer {LAYER[theirs]})"
    return None


def test_every_import_follows_the_layers():
    found = []
    for top in LAYER:
        for path in sorted((REPO_ROOT / top).rglob("*.py")):
            if "fixtures" in path.parts:
                continue
            for line, imported in _imports(path):
                why = _violation(path, imported)
                if why:
                    found.append(f"{path.relative_to(REPO_ROOT)}:{line}: {imported}: {why}")
    assert found == [], "imports against the layers:\n" + "\n".join(found)


def test_the_check_sees_a_violation(tmp_path):
    """The walk itself works: a function-local import of a higher layer is caught."""
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from cli.main import main\n")
    assert list(_imports(module)) == [(2, "cli.main")]
    assert _violation(REPO_ROOT / "common" / "probe.py", "cli.main") is not None
    assert _violation(REPO_ROOT / "jobs" / "action_streaming" / "job.py", "jobs.api_unification.tenants")
    assert _violation(REPO_ROOT / "jobs" / "action_streaming" / "job.py", "jobs.action_streaming.levels") is None
    assert _violation(REPO_ROOT / "infra" / "stack" / "control.py", "jobs.registry")


def test_nothing_points_outside_the_repository():
    """Docstrings, comments and docs cite files a clone has (docs/), not notes kept beside the repo."""
    outside = ("NOTES" + ".md", "DESIGN" + ".md", "../" + "shared")  # spelled apart: this file is read too
    found = []
    for top in (*LAYER, "docs", "flink-conf", "infra"):
        for path in sorted((REPO_ROOT / top).rglob("*")):
            if path.suffix not in (".py", ".md", ".yaml", ".sh", ".java", ".sql") or "fixtures" in path.parts:
                continue
            text = path.read_text(errors="replace")
            found += [f"{path.relative_to(REPO_ROOT)}: {word}" for word in outside if word in text]
    readme = (REPO_ROOT / "README.md").read_text()
    found += [f"README.md: {word}" for word in outside if word in readme]
    assert found == [], "references outside the repository:\n" + "\n".join(found)
