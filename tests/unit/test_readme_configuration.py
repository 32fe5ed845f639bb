"""The README's configuration table names every setting, as the environment spells it:
a setting missing from it is one nobody finds, and a row without a setting misleads."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

from app.config import Settings, load_settings

README = Path(__file__).parents[2] / "README.md"
ROW = re.compile(r"^\| `([^`]+)` \| (?:`(HOOKLINE_[A-Z_]+)`[^|]*|\(file only\)) \| ([^|]*) \|", re.M)


def configuration_rows() -> dict[str, tuple[str | None, str]]:
    text = README.read_text()
    section = text[text.index("\n## Configuration\n"):]
    section = section[:section.index("\n## ", 1)]
    return {key: (env, default.strip()) for key, env, default in ROW.findall(section)}


def test_the_configuration_table_has_a_row_per_setting_named_as_the_environment_names_it():
    rows = configuration_rows()
    fields = {f.name for f in dataclasses.fields(Settings)} - {"dev"}  # --dev is an option, not a setting
    assert set(rows) - {"[[event_types]]"} == fields - {"event_types"}
    assert "[[event_types]]" in rows
    for key, (env, _default) in rows.items():
        if key != "[[event_types]]":
            assert env == f"HOOKLINE_{key.upper()}", key


def test_the_defaults_the_table_shows_are_the_defaults(tmp_path):
    """Each row's default, read back through the configuration's own parser, is the
    setting's default: the parser a user's file goes through. Skipped: "empty", and
    JSON text or a path shown in prose."""
    defaults = Settings()
    checked = 0
    for key, (env, shown) in configuration_rows().items():
        if not env or not shown.startswith("`") or shown.count("`") != 2:
            continue
        value = shown.strip("`")
        if key in ("signatures", "envelope", "headers") or key == "database_url":
            continue  # JSON text, and a path relative to the working directory
        config = tmp_path / f"{key}.toml"
        config.write_text(f"{key} = {value if _is_toml(value) else repr(value)}\n")  # `127.0.0.1`: a string
        assert getattr(load_settings(config, environ={}), key) == getattr(defaults, key), key
        checked += 1
    assert checked >= 40


def _is_toml(value: str) -> bool:
    try:
        tomllib.loads(f"x = {value}")
    except tomllib.TOMLDecodeError:
        return False
    return True
