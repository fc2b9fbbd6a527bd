"""botocore's data, kept parsed in the user's cache: most of what creating an S3 client costs.

Creating a client parses S3's service model and endpoint rule set (gzipped JSON), botocore's
``endpoints.json`` and a few small files, each with ``json.loads`` into ``OrderedDict`` objects,
and lists every service directory of botocore's data (~460 of them, two system calls or more
each) to see that ``s3`` is one: ~0.1 s of CPU before the first request (measured in
docs/performance.md). :func:`use_cache` gives a botocore session a loader that keeps both
(the parsed files and the listing) in ``<user cache>/botocore/<botocore version>/`` as
:mod:`marshal` data, which loads several times faster than the JSON and, unlike pickle, runs
no code when loaded.

A parsed file is kept under a name made of botocore's version and the source file's path,
modification time and size: an upgrade, an edited model or a new file in ``~/.aws/models``
gives another name, and the file is parsed again. The listing of botocore's own data directory
is kept by that directory's path and modification time (files are added by installing another
botocore version); other data directories (``~/.aws/models``, ``AWS_DATA_PATH``) are listed
every time, as botocore does. A kept file that cannot be read is parsed again and replaced; any
error of the cache itself leaves botocore's own loading to do the work. Loaded data holds plain
``dict`` objects where botocore's JSON loader makes ``OrderedDict`` ones (the same order; the
model code copies them into its own types).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import marshal
import os
import shutil
import stat
import sys
from typing import Any

import botocore
import botocore.session
from botocore.loaders import JSONFileLoader, Loader, create_loader, instance_cache

from .. import usercache

EXTENSIONS = (".json", ".json.gz")
"""the files botocore's JSON loader looks for, in its order"""

_CACHE_ERRORS = (OSError, EOFError, ValueError, TypeError)
"""what reading, parsing or writing a kept file may raise: each falls back to botocore's loading"""


def directory() -> str:
    """Where the parsed files of this botocore version are kept."""
    return os.path.join(usercache.base(), "botocore", botocore.__version__)


def use_cache(session: botocore.session.Session) -> None:
    """Have ``session`` load botocore's data through the cache (before any client is made)."""
    search = create_loader(session.get_config_variable("data_path")).search_paths
    folder = directory()
    if not os.path.isdir(folder):
        _remove_other_versions(folder)
    loader = CachingLoader(
        extra_search_paths=list(search),
        file_loader=CachingFileLoader(folder),
        include_default_search_paths=False,
    )
    session.register_component("data_loader", loader)


class CachingFileLoader(JSONFileLoader):
    """botocore's JSON loader, with each file parsed once and kept in ``folder``."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def load_file(self, file_path: str) -> Any:
        for extension in EXTENSIONS:
            source = file_path + extension
            try:
                found = os.stat(source)
            except OSError:
                continue
            if stat.S_ISREG(found.st_mode):
                try:
                    return self._load(source, found)
                except _CACHE_ERRORS:
                    return super().load_file(file_path)
        return None

    def _load(self, source: str, found: os.stat_result) -> dict[str, Any]:
        """The parsed file ``source``: kept, or parsed and kept."""
        kept = os.path.join(self.folder, _name("file", source, found.st_mtime_ns, found.st_size))
        data = _read(kept)
        if isinstance(data, dict):
            return data
        parsed = _parse(source)
        _keep(kept, parsed)
        return parsed


class CachingLoader(Loader):
    """botocore's loader, with the listing of botocore's own data kept as well."""

    @instance_cache
    def list_available_services(self, type_name: str) -> list[str]:
        services: set[str] = set()
        for path in self.search_paths:
            if path == self.BUILTIN_DATA_PATH:
                services.update(self._builtin_services(type_name))
            else:
                services.update(self._listing(path, type_name))
        return sorted(services)

    def _builtin_services(self, type_name: str) -> list[str]:
        path = self.BUILTIN_DATA_PATH
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return []
        assert isinstance(self.file_loader, CachingFileLoader)
        kept = os.path.join(self.file_loader.folder, _name("services", path, mtime, type_name))
        services = _read(kept)
        if isinstance(services, list) and all(isinstance(s, str) for s in services):
            return services
        services = self._listing(path, type_name)
        _keep(kept, services)
        return services

    def _listing(self, path: str, type_name: str) -> list[str]:
        """botocore's own listing of the one data directory ``path``."""
        alone = Loader(
            extra_search_paths=[path],
            file_loader=self.file_loader,
            include_default_search_paths=False,
        )
        listed: list[str] = alone.list_available_services(type_name)
        return listed


def _name(kind: str, path: str, *stamp: object) -> str:
    """The kept file's name: what it holds and of which source, and Python's data format."""
    key = "\0".join(map(str, (kind, path, *stamp, marshal.version, sys.version_info[:2])))
    return hashlib.sha256(key.encode()).hexdigest()[:40] + ".marshal"


def _parse(source: str) -> dict[str, Any]:
    """The JSON object in the file ``source`` (gzipped if its name ends in .gz)."""
    with open(source, "rb") as file:
        raw = file.read()
    if source.endswith(".gz"):
        raw = gzip.decompress(raw)
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{source} does not hold a JSON object")
    return data


def _read(kept: str) -> Any:
    """The data kept at ``kept``, or None."""
    try:
        with open(kept, "rb") as file:
            return marshal.loads(file.read())
    except _CACHE_ERRORS:
        return None


def _keep(kept: str, data: Any) -> None:
    """Keep ``data`` at ``kept``, if it can be (the data is used either way)."""
    try:
        usercache.write_atomically(kept, marshal.dumps(data))
    except _CACHE_ERRORS:
        return


def _remove_other_versions(folder: str) -> None:
    """Remove the kept files of the other botocore versions than the one of ``folder`` (the
    directories beside it, all made by :func:`use_cache`): one version's files at a time."""
    parent = os.path.dirname(folder)
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        if name != os.path.basename(folder):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
