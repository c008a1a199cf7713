"""`.env.example`, generated from `Settings`: every setting with its default and what it means, so the
file the container stack reads (`docker-compose.yml`'s `env_file`) cannot drift from the code.

`python -m clara_runner.env_example` rewrites it; `tests/test_env_example.py` fails when it differs, or
when a variable in it is not a setting.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from clara_runner.settings import Settings

FILE = ".env.example"
HEADER = """\
# Clara Agent Runner settings: copy to .env and change what you need (docker-compose.yml reads .env).
# Every setting is listed with its default; an empty value means unset. Generated from
# src/clara_runner/settings.py by `python -m clara_runner.env_example`: edit the settings, not this file.
"""


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def env_example() -> str:
    blocks = [HEADER]
    for name, field in Settings.model_fields.items():
        comment = textwrap.fill(field.description or "", width=110, initial_indent="# ", subsequent_indent="# ")
        blocks.append(f"{comment}\n{field.alias or name.upper()}={_value(field.default)}\n")
    return "\n".join(blocks)


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
    (root / FILE).write_text(env_example(), encoding="utf-8")
    sys.stdout.write(f"{root / FILE}: regenerated\n")
