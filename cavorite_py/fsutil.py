"""File-system helpers: temporary names never mistaken for artifacts, atomic writes."""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

from . import tempfiles

TMP_MARK = ".cavorite-tmp-"
"""Every temporary file we create has this in its name; such files are never artifacts."""


NAME_BYTES = 80
"""How much of the original name a temporary name keeps, in bytes: with the mark and a random
part it stays well under the 255-byte limit of common file systems, whatever the encoding."""


def temp_path_for(path: Path) -> Path:
    """A fresh temporary name for a file that becomes ``path`` by a rename: in the temporary
    area of the repository holding it, where git does not look (see :mod:`.tempfiles`), or else
    hidden in ``path``'s own directory. Either way on ``path``'s file system, so the rename is
    atomic."""
    name = f"{_shorten(path.name)}{TMP_MARK}{os.urandom(6).hex()}"
    place = tempfiles.place_for(path)
    if place is None:
        return path.with_name(f".{name}")
    directory, prefix = place
    return directory / f"{prefix}{name}"


def _shorten(name: str) -> str:
    name = name[:NAME_BYTES]
    while len(os.fsencode(name)) > NAME_BYTES:
        name = name[:-1]
    return name


def below(text: str, base: str) -> str | None:
    """The rest of path ``text`` after the directory ``base`` (both as strings, the way they
    were built), or None when ``text`` does not start with ``base`` and a separator."""
    if text.startswith(base) and text[len(base) : len(base) + 1] == os.sep:
        return text[len(base) + 1 :]
    return None


def relative_posix(path: Path, root: Path) -> str:
    """``path.relative_to(root).as_posix()`` (a ``ValueError`` outside ``root``), without
    pathlib's cost in the common case of a path built from ``root``."""
    rel = below(str(path), str(root))
    if rel is None:
        return path.relative_to(root).as_posix()
    return rel if os.sep == "/" else rel.replace(os.sep, "/")


def child(directory: Path, name: str) -> Path:
    """``directory / name`` for a plain file name (no "/"), without parsing it again where
    pathlib can (``_make_child_relpath``, which its own directory walks use)."""
    make = getattr(directory, "_make_child_relpath", None)
    return make(name) if make is not None else directory / name


def is_temp_name(name: str) -> bool:
    return TMP_MARK in name


STALE_AFTER = 3600.0
"""Seconds a temporary file must go unmodified before it is taken for the leftover of an
interrupted run: a live transfer writes to its file far more often (stores time out sooner)."""

_OUR_TEMP = re.compile(r"\..*" + re.escape(TMP_MARK) + r"[0-9a-f]{12}", re.DOTALL)


def remove_stale_temps(directory: Path, older_than: float = STALE_AFTER) -> list[Path]:
    """Delete the temporary files of :func:`temp_path_for` in ``directory`` (not below it) that
    nothing has modified for ``older_than`` seconds; return them. Younger ones may belong to a
    run still going and are left alone; errors are ignored, as the files are harmless."""
    limit = time.time() - older_than
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if TMP_MARK not in entry.name or not _OUR_TEMP.fullmatch(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and st.st_mtime < limit:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: all or nothing."""
    tmp = temp_path_for(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:  # no buffered file object: its set-up costs more system calls than the write
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def absolute_path_entries(path: str) -> str:
    """``path`` (a PATH value) without empty, ``.`` or relative entries."""
    return os.pathsep.join(e for e in path.split(os.pathsep) if e and os.path.isabs(e))


def which(name: str) -> str | None:
    """The absolute path of program ``name`` on PATH, searching only PATH's absolute entries:
    never the current directory (Windows searches it first) or a relative entry such as ``.``."""
    import shutil

    found = shutil.which(name, path=absolute_path_entries(os.environ.get("PATH", os.defpath)))
    return os.path.abspath(found) if found is not None else None
