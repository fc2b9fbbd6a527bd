"""Shared fixtures. Backend fixtures live in ``tests/fixtures``, one module per family."""

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.consent",
    "tests.fixtures.local",
    "tests.fixtures.repos",
    "tests.fixtures.plugins",
    "tests.fixtures.emulators",
    "tests.fixtures.cloud",
]


@pytest.fixture(autouse=True)
def _own_content_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Every test's content cache is a directory of its own: nothing reaches ~/.cache, and no
    test sees what another cached (commands run with ``cli_env`` use its XDG_CACHE_HOME)."""
    directory = tmp_path_factory.mktemp("content-cache")
    monkeypatch.setenv("CAVORITE_CACHE_DIR", str(directory))
    return directory
