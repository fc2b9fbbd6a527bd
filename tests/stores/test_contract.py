"""The Store contract (``cavorite_py.testing``, shipped with the package), run against every
store, as a plugin author runs it against theirs.

Each store contributes a fixture named ``<name>_store`` (see ``tests/fixtures``) that yields a
fresh, empty store over its real backend; add the name to ``STORES`` to run the suite on it.
"""

from __future__ import annotations

import os

import pytest

from cavorite_py.stores.base import Store
from cavorite_py.testing import StoreContract

STORES = ["localstore", "s3", "gcs", "azure", "fsspec", "fsspec_file"]
STORES += ["plugin_python", "plugin_sh"]  # executable plugins, through the protocol
if os.environ.get("CAVORITE_TEST_PLUGIN"):  # your own plugin: see docs/plugins.md
    STORES.append("plugin_custom")
if os.environ.get("CAVORITE_TEST_STORE"):  # your own installed store type: the same
    STORES.append("custom")


class TestStoreContract(StoreContract):
    @pytest.fixture(params=STORES)
    def store(self, request: pytest.FixtureRequest) -> Store:
        value: Store = request.getfixturevalue(f"{request.param}_store")
        return value

    @pytest.fixture
    def announces_size(self, request: pytest.FixtureRequest) -> bool:
        # GCS and a local fsspec file learn an object's size only from its bytes
        return request.node.callspec.params["store"] not in {"gcs", "fsspec_file"}
