"""Which files a command covers, from the paths the user named.

Arguments are checked before anything is transferred: one bad argument refuses the whole
command (exit 2) and changes nothing.
"""

from __future__ import annotations

import stat as statmod
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import PathError
from .workspace import Workspace


def _unique(paths: Iterable[Path]) -> list[Path]:
    return list(dict.fromkeys(paths))


def upload_targets(
    ws: Workspace, args: Sequence[str | Path], cwd: Path | None = None
) -> list[Path]:
    """The artifacts to upload: named files, and every file under named directories."""
    if not args:
        raise PathError("name at least one file or directory to upload")
    found: list[Path] = []
    for arg in args:
        path = ws.resolve(arg, cwd)
        if path != ws.root:
            ws.check_not_internal(path)
        try:
            st = path.lstat()
        except FileNotFoundError:
            raise PathError(f"{arg}: no such file") from None
        if statmod.S_ISDIR(st.st_mode):
            found.extend(p for p in ws.walk_files(path) if _uploadable(ws, p))
        elif statmod.S_ISLNK(st.st_mode):
            raise PathError(f"{arg}: is a symbolic link; upload the file it points to instead")
        elif not statmod.S_ISREG(st.st_mode):
            raise PathError(f"{arg}: not a regular file")
        elif ws.is_cfile(path):
            raise PathError(
                f"{arg}: is a metadata file; upload its artifact "
                f"{ws.display(ws.artifact_for(path))} instead"
            )
        else:
            found.append(path)
    return _unique(found)


def _uploadable(ws: Workspace, path: Path) -> bool:
    return not ws.is_cfile(path) and path.name != ".gitignore" and not path.is_symlink()


def retrieve_targets(
    ws: Workspace, args: Sequence[str | Path], cwd: Path | None = None
) -> list[Path]:
    """The cfiles to retrieve: named cfiles or artifacts, every cfile under named directories,
    every cfile in the repository when nothing is named."""
    if not args:
        return list(ws.walk_cfiles(ws.root))
    found: list[Path] = []
    for arg in args:
        path = ws.resolve(arg, cwd)
        if path != ws.root:
            ws.check_not_internal(path)
        if path.is_dir() and not path.is_symlink():
            if ws.cfile_for(path).is_file():  # a directory where an artifact belongs: report it
                found.append(ws.cfile_for(path))
            found.extend(ws.walk_cfiles(path))
        elif ws.is_cfile(path) and path.is_file():
            found.append(path)
        elif ws.cfile_for(path).is_file():
            found.append(ws.cfile_for(path))
        else:
            raise PathError(
                f"{arg}: no metadata file {ws.display(ws.cfile_for(path))}; "
                "name a cfile, a tracked artifact or a directory"
            )
    return _unique(found)
