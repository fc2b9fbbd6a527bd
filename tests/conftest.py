"""Shared fixtures. Backend fixtures live in ``tests/fixtures``, one module per family."""

pytest_plugins = [
    "tests.fixtures.consent",
    "tests.fixtures.local",
    "tests.fixtures.repos",
    "tests.fixtures.plugins",
    "tests.fixtures.emulators",
    "tests.fixtures.cloud",
]
