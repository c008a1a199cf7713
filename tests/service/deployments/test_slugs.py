from __future__ import annotations

import pytest

from clara_runner.service.deployments.slugs import SLUG_PATTERN, first_free, slugify


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Hello World", "hello-world"),
        ("  Hello,   World!! ", "hello-world"),
        ("Café Crème", "cafe-creme"),
        ("!!!", "workflow"),
        ("日本語のワークフロー", "workflow"),
        ("A" * 80, "a" * 50),
        ("x" * 49 + " y", "x" * 49),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug
    assert SLUG_PATTERN.match(slug)


def test_first_free_uses_the_originals_suffixes() -> None:
    assert first_free("demo", set()) == "demo"
    assert first_free("demo", {"demo"}) == "demo-1"
    assert first_free("demo", {"demo", "demo-1", "demo-2"}) == "demo-3"
