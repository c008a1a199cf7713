"""The settings tables of the docs, generated from `Settings` so they cannot drift apart.

Docs describe what the code does today: each row comes from a field's alias, default and description.
The README holds every setting; docs/DEPLOYMENT.md holds, section by section, the ones the section
explains. Each table sits between `<!-- settings-table:start [ALIAS ...] -->` and
`<!-- settings-table:end -->` (no aliases: every setting). `python -m clara_runner.settings_table`
rewrites those regions in place; `tests/test_settings_table.py` fails when one differs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

from clara_runner.settings import RENAMED, Settings


def _default(value: object) -> str:
    if value == "":
        return "unset"
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def settings_table(aliases: Sequence[str] = ()) -> str:
    """The markdown table of the `Settings` fields named by `aliases` in that order (none: all of them, in
    declaration order)."""
    fields = {field.alias or name: field for name, field in Settings.model_fields.items()}
    old_names = {new: old for old, new in RENAMED.items()}
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for alias in aliases or list(fields):
        field = fields[alias]
        meaning = (field.description or "").replace("|", "\\|")
        if alias in old_names:
            meaning += f" (formerly `{old_names[alias]}`, still read with a warning)"
        lines.append(f"| `{alias}` | {_default(field.default)} | {meaning} |")
    return "\n".join(lines) + "\n"


REGION = re.compile(r"(<!-- settings-table:start((?: [A-Z_]+)*) -->\n)(.*?)(<!-- settings-table:end -->)", re.DOTALL)


def regenerated(document: str) -> str:
    """`document` with every settings-table region rewritten from `Settings`."""
    return REGION.sub(lambda match: f"{match[1]}\n{settings_table(match[2].split())}\n{match[4]}", document)


DOCUMENTS = ("README.md", "docs/DEPLOYMENT.md", "docs/MANAGER.md")


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
    for name in DOCUMENTS:
        path = root / name
        path.write_text(regenerated(path.read_text(encoding="utf-8")), encoding="utf-8")
        sys.stdout.write(f"{path}: settings tables regenerated\n")
