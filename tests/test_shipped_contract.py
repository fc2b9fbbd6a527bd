"""The store contract suite ships with the package (``cavorite_py.testing``): a plugin package
outside this repository subclasses it in its own tests and runs it, with pytest, against the
local store (an installed store type) and against an executable plugin of its own; and no
command of cavorite imports pytest or the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.fixtures.plugins import DIRSTORE_PY

PLUGIN_TESTS = '''
"""The store contract, from the installed cavorite-py, against this package's stores."""

from pathlib import Path

import pytest

from cavorite_py.stores.base import StoreSettings
from cavorite_py.stores.registry import open_store
from cavorite_py.testing import StoreContract, plugin_store

PLUGIN = Path(__file__).resolve().parents[1] / "bin" / "my-store-plugin"


class TestLocalStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        # a directory inside the root given needs no approval (a repository's own store)
        settings = StoreSettings((tmp_path / "objects").as_uri(), {}, tmp_path)
        store = open_store("localstore", settings)
        yield store
        store.close()


class TestMyPlugin(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        with plugin_store(PLUGIN, (tmp_path / "objects").as_uri(), tmp_path) as store:
            yield store
'''

PYPROJECT = """
[project]
name = "cavorite-mystore"
version = "0.1.0"

[tool.pytest.ini_options]
filterwarnings = ["error"]
"""


def test_a_plugin_package_runs_the_shipped_suite(tmp_path: Path) -> None:
    package = tmp_path / "cavorite-mystore"
    (package / "tests").mkdir(parents=True)
    (package / "bin").mkdir()
    (package / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (package / "tests" / "test_store_contract.py").write_text(textwrap.dedent(PLUGIN_TESTS))
    shutil.copy2(DIRSTORE_PY, package / "bin" / "my-store-plugin")

    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "tests"],
        cwd=package,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    for cls in ("TestLocalStore", "TestMyPlugin"):
        for test in ("test_put_get_round_trip", "test_large_object", "test_awkward_keys"):
            assert f"PASSED tests/test_store_contract.py::{cls}::{test}" in output, output
    assert "cavorite-mystore" in output  # rootdir: the package, not this repository


def test_no_command_imports_pytest_or_the_suite(tmp_path: Path) -> None:
    check = (
        "import sys\n"
        "from cavorite_py.__main__ import main\n"
        "try:\n    main(['stores'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('pytest', 'cavorite_py.testing') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", check],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout + proc.stderr
