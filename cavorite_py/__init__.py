"""cavorite-py: keep large binary files out of source control.

The public surface: :class:`Repo` (find or :func:`init` a repository, then ``upload`` and
``retrieve``), the :class:`Report` it returns, the Store contract for plugin authors, and the
error tree (see :mod:`cavorite_py.errors`).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: `cavorite --version` starts fast

__version__ = "0.1.0"

if TYPE_CHECKING:
    from typing import Any

    from .errors import (
        AccessDenied,
        CavoriteError,
        ConfigError,
        ConflictError,
        ConsentError,
        DiskFull,
        FileChangedError,
        IntegrityError,
        MetadataError,
        NotAttempted,
        ObjectExists,
        ObjectNotFound,
        PathError,
        PluginError,
        StoreDown,
        StoreError,
        StoreUnavailable,
        UsageError,
    )
    from .initrepo import InitResult, init
    from .metadata import Metadata
    from .repo import Repo
    from .results import FileResult, Observer, Outcome, Report
    from .stores.base import ObjectInfo, Store, StoreSettings

__all__ = [
    "AccessDenied",
    "CavoriteError",
    "ConfigError",
    "ConflictError",
    "ConsentError",
    "DiskFull",
    "FileChangedError",
    "FileResult",
    "InitResult",
    "IntegrityError",
    "Metadata",
    "MetadataError",
    "NotAttempted",
    "ObjectExists",
    "ObjectInfo",
    "ObjectNotFound",
    "Observer",
    "Outcome",
    "PathError",
    "PluginError",
    "Repo",
    "Report",
    "Store",
    "StoreDown",
    "StoreError",
    "StoreSettings",
    "StoreUnavailable",
    "UsageError",
    "__version__",
    "init",
]

_HOMES = {
    **dict.fromkeys(
        [
            n
            for n in __all__
            if n.endswith("Error")
            or n in ("ObjectExists", "ObjectNotFound", "AccessDenied", "StoreUnavailable")
            or n in ("DiskFull", "NotAttempted", "StoreDown")
        ],
        ".errors",
    ),
    "Metadata": ".metadata",
    "InitResult": ".initrepo",
    "Repo": ".repo",
    "init": ".initrepo",
    "FileResult": ".results",
    "Observer": ".results",
    "Outcome": ".results",
    "Report": ".results",
    "ObjectInfo": ".stores.base",
    "Store": ".stores.base",
    "StoreSettings": ".stores.base",
}


def __getattr__(name: str) -> Any:
    """Import the public names lazily, so that ``cavorite --version`` starts fast."""
    import importlib

    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'cavorite_py' has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)
