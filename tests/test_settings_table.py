"""The README's configuration table is the one `Settings` generates, and every setting explains itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from clara_runner.settings import Settings
from clara_runner.settings_table import DOCUMENTS, REGION, regenerated, settings_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_settings_table_of_the_docs_is_the_generated_one(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    assert REGION.search(text), f"{document} has no settings table"
    assert text == regenerated(text), (
        f"{document}: a settings table differs from Settings; run `python -m clara_runner.settings_table`"
    )


def test_the_readme_lists_every_setting() -> None:
    regions = REGION.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert [aliases for _, aliases, _, _ in regions] == [""]


def test_a_table_lists_the_settings_it_names_in_that_order() -> None:
    rows = settings_table(["REDIS_URL", "HOST"]).splitlines()[2:]
    assert [row.split(" | ", 1)[0].removeprefix("| ").strip("`") for row in rows] == ["REDIS_URL", "HOST"]


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_has_a_description(name: str) -> None:
    description = Settings.model_fields[name].description
    assert description
    assert description.strip()


def test_table_has_one_row_per_setting_in_declaration_order() -> None:
    rows = settings_table().splitlines()[2:]
    aliases = [row.split(" | ", 1)[0].removeprefix("| ").strip("`") for row in rows]
    assert aliases == [field.alias for field in Settings.model_fields.values()]
