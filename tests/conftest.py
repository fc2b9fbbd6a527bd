"""Shared fixtures. Backend fixtures live in ``tests/fixtures``, one module per family."""

import os
from pathlib import Path

import pytest

from cavorite_py import metadata
from cavorite_py.metadata import Metadata

pytest_plugins = [
    "tests.fixtures.consent",
    "tests.fixtures.local",
    "tests.fixtures.repos",
    "tests.fixtures.plugins",
    "tests.fixtures.emulators",
    "tests.fixtures.cloud",
]

# The files whose tests wait longest (clean venvs, retry deadlines, timeouts) run first: pytest -n
# shares tests out in collection order, so that their waits overlap the many short tests instead
# of trailing after them.
SLOW_FIRST = (
    "tests/packaging/",
    "tests/hardening/test_secrets.py",
    "tests/hardening/test_state_cache.py",
    "tests/hardening/test_network_faults.py",
    "tests/e2e/test_precommit.py",
)


def _rank(item: pytest.Item) -> int:
    """The place of ``item``'s file in ``SLOW_FIRST``; after them, every other test."""
    found = (i for i, prefix in enumerate(SLOW_FIRST) if item.nodeid.startswith(prefix))
    return next(found, len(SLOW_FIRST))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # a stable sort: each file's tests keep their order
    items.sort(key=_rank)


@pytest.fixture(autouse=True)
def _own_content_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Every test's content cache is a directory of its own: nothing reaches ~/.cache, and no
    test sees what another cached (commands run with ``cli_env`` use its XDG_CACHE_HOME)."""
    directory = tmp_path_factory.mktemp("content-cache")
    monkeypatch.setenv("CAVORITE_CACHE_DIR", str(directory))
    return directory


@pytest.fixture(scope="session")
def user_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test session's user cache directory (``XDG_CACHE_HOME``)."""
    return tmp_path_factory.mktemp("user-cache")


@pytest.fixture(autouse=True)
def _own_user_cache(monkeypatch: pytest.MonkeyPatch, user_cache_dir: Path) -> Path:
    """What the code run in the test process keeps in the user cache (botocore's parsed data)
    goes to one directory of the session, parsed once for all its tests: nothing reaches
    ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(user_cache_dir))
    return user_cache_dir


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every cfile actually read from disk."""
    seen: list[Path] = []
    real = metadata.read_with_stat

    def counting(path: Path) -> tuple[Metadata, os.stat_result]:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(metadata, "read_with_stat", counting)
    return seen
