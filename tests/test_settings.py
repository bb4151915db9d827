"""One settings resolver: flag or API argument, then ``RIPPLE_*``, then ``[tool.ripple]``, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import UsageError
from engine.settings import DEFAULT_HISTORY_LIMIT, resolve


def _project(tmp_path: Path, body: str = "") -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[tool.ripple]\n{body}")
    return tmp_path


def test_defaults(tmp_path: Path) -> None:
    s = resolve(tmp_path, environ={})
    assert s.cache_dir == tmp_path / ".ripple" and s.max_size is None
    assert s.history_limit == DEFAULT_HISTORY_LIMIT and s.default_behavior is None


def test_project_settings_are_read_and_parsed(tmp_path: Path) -> None:
    root = _project(tmp_path, 'cache_dir = "store"\nmax_size = "2MB"\nhistory_limit = 7\ndefault_behavior = "recompute"\n')
    s = resolve(root, environ={})
    assert s.cache_dir == root / "store"  # relative to the project, not the current folder
    assert (s.max_size, s.history_limit, s.default_behavior) == (2 << 20, 7, "recompute")


def test_environment_beats_project_and_flags_beat_both(tmp_path: Path) -> None:
    root = _project(tmp_path, 'max_size = "2MB"\nhistory_limit = 7\n')
    env = {"RIPPLE_MAX_SIZE": "1k", "RIPPLE_HISTORY_LIMIT": "3", "RIPPLE_CACHE_DIR": str(tmp_path / "env")}
    s = resolve(root, environ=env)
    assert (s.max_size, s.history_limit, s.cache_dir) == (1024, 3, tmp_path / "env")
    s = resolve(root, environ=env, max_size="5", history_limit=9, cache_dir=tmp_path / "flag")
    assert (s.max_size, s.history_limit, s.cache_dir) == (5, 9, tmp_path / "flag")


@pytest.mark.parametrize(("body", "env", "named"), [
    ("history_limit = 0\n", {}, "[tool.ripple] history_limit"),
    ("", {"RIPPLE_HISTORY_LIMIT": "lots"}, "$RIPPLE_HISTORY_LIMIT"),
    ('max_size = "big"\n', {}, "[tool.ripple] max_size"),
])
def test_bad_values_name_where_they_came_from(tmp_path: Path, body: str, env: dict[str, str], named: str) -> None:
    with pytest.raises(UsageError) as err:
        resolve(_project(tmp_path, body), environ=env)
    assert str(err.value).startswith(named)


def test_a_pyproject_that_never_names_ripple_is_not_parsed(tmp_path: Path) -> None:
    """No ``[tool.ripple]`` can be in it, so it is not parsed (not even its mistakes are ours)."""
    from engine.settings import project_settings

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.black\nline-length = 99\n')
    assert project_settings(tmp_path) == {}
    assert resolve(tmp_path).cache_dir == tmp_path / ".ripple"


@pytest.mark.parametrize("content", [b'[tool.ripple]\ncache_dir = "x\n', b'[tool.ripple]\ncache_dir = "\xff"\n',
                                     b'[tool]\nripple = {cache_dir = }\n'])
def test_a_pyproject_that_names_ripple_is_parsed_and_its_mistakes_reported(tmp_path: Path, content: bytes) -> None:
    from engine.settings import project_settings

    (tmp_path / "pyproject.toml").write_bytes(content)
    with pytest.raises(UsageError) as info:
        project_settings(tmp_path)
    assert info.value.file == str(tmp_path / "pyproject.toml")
    assert "cannot read [tool.ripple] settings" in info.value.message


def test_ripple_settings_in_a_dotted_table_are_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool]\nripple = { cache_dir = "elsewhere" }\n')
    assert resolve(tmp_path).cache_dir == tmp_path / "elsewhere"
