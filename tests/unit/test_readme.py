"""The README's configuration reference is generated from the settings table: keep it true."""

from __future__ import annotations

from pathlib import Path

from stacks.config import reference_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_reference_matches_the_settings() -> None:
    text = README.read_text()
    assert reference_table() in text, (
        "README configuration reference is stale: paste the output of "
        "`python -c 'from stacks.config import reference_table; print(reference_table())'`"
    )
