"""Testing support for store authors: the Store contract suite, shipped with cavorite-py.

Every store, built-in or plugin, passes the same suite. Subclass :class:`StoreContract` in a test
module of your own and give it a ``store`` fixture that yields a fresh, empty store; pytest then
runs every test of the contract against it::

    import pytest
    from cavorite_py.testing import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            with my_store(tmp_path) as store:
                yield store

An executable plugin is opened with :func:`plugin_store`. This package needs pytest
(``pip install "cavorite-py[testing]"``); cavorite itself never imports it.
"""

from __future__ import annotations

from .contract import MakeFile, NonSeekable, StoreContract, fetch, plugin_store

__all__ = ["MakeFile", "NonSeekable", "StoreContract", "fetch", "plugin_store"]
