"""Shared fixtures. Backend fixtures live in ``tests/fixtures``, one module per family."""

import pytest

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
