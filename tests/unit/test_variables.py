"""Settings are declared once (common/variables.py): README's table and `headwater --help` come from
the declarations, and no product code names a variable that is not declared."""

from __future__ import annotations

import re
import subprocess
import sys

from cli.variables import declared, epilog, markdown_table
from common.config import REPO_ROOT

PRODUCT = ("common", "jobs", "infra", "cli")
NAME = re.compile(r"\bHEADWATER_[A-Z0-9_]*[A-Z0-9]\b")


def test_readme_table_is_the_declarations():
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index("<!-- variables: generated")
    block = readme[readme.index("\n", start) + 1 : readme.index("<!-- variables: end -->")]
    assert block == markdown_table(), "README's table differs from the declarations: paste `python -m cli.variables`"


def test_help_lists_every_variable():
    shown = subprocess.run([sys.executable, "-m", "cli.main", "--help"], capture_output=True, text=True, check=True)
    assert shown.stdout.rstrip().endswith(epilog().rstrip())
    assert all(v.name in shown.stdout for v in declared())


def test_product_code_names_only_declared_variables():
    names = {v.name for v in declared()}
    used = {}
    for top in PRODUCT:
        for path in (REPO_ROOT / top).rglob("*.py"):
            for found in NAME.findall(path.read_text()):
                used.setdefault(found, path.relative_to(REPO_ROOT))
    undeclared = {n: str(p) for n, p in used.items() if n not in names}
    assert undeclared == {}, f"read but not declared with common.variables.declare: {undeclared}"
