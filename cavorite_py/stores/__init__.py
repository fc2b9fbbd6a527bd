"""Stores move bytes between local files and an object store; see :mod:`cavorite_py.stores.base`."""
