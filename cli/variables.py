"""Every `HEADWATER_*` variable, from its declaration (common/variables.py): the epilog of
`headwater --help` and the table in README.md (`python -m cli.variables` prints it; a test checks
the README against it)."""

from __future__ import annotations

import importlib
import sys
import textwrap

from common.variables import DECLARED, Variable

# Every module that declares variables; importing them fills DECLARED.
DECLARING = ("common.config", "common.contracts.tenants", "infra.stack.services")
SECTIONS = (
    "services",
    "jobs",
    "api-unification + action-streaming",
    "api-unification",
    "action-streaming",
    "reaction-streaming",
    "profile-dedupe",
    "audience-computation",
    "local stack",
    "command line",
)


def declared() -> list[Variable]:
    from jobs.registry import JOBS

    for module in (*DECLARING, *(path.rsplit(".", 1)[0] + ".settings" for path in JOBS.values())):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a job without settings has no settings module; anything else is a bug
                raise
    order = {name: n for n, name in enumerate(DECLARED)}
    return sorted(DECLARED.values(), key=lambda v: (SECTIONS.index(v.section), order[v.name]))


def markdown_table() -> str:
    rows = ["| variable | default | read by | meaning |", "|---|---|---|---|"]
    for v in declared():
        default = v.shown_default if v.default_text is not None else f"`{v.shown_default}`"
        rows.append(f"| `{v.name}` | {default} | {v.section} | {v.meaning} |")
    return "\n".join(rows) + "\n"


def epilog() -> str:
    lines = ["environment (defaults point at the local stack; README.md has the table):"]
    for v in declared():
        text = f"{v.meaning} (default {v.shown_default.replace('`', '')}; {v.section})"
        lines.append(f"  {v.name}")
        lines += textwrap.wrap(text, 96, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown_table())
