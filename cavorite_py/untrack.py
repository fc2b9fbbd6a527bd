"""``untrack``: stop tracking artifacts. Each one's cfile and cavorite's ``.gitignore`` lines
for it are removed; the file itself is kept, or deleted too when asked. Every named path is
checked first: one that is not tracked refuses the whole command and changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from . import gitignore
from .errors import CavoriteError, PathError
from .metadata import Metadata
from .results import FileResult, Outcome, Report
from .state import StateCache
from .workspace import Workspace


def untrack(
    ws: Workspace, cache: StateCache, cfiles: Sequence[Path], delete: bool, in_git: bool
) -> Report:
    """Remove every cfile (and with ``delete`` its artifact); in git, the ``.gitignore``
    lines of the artifacts too."""
    if not cfiles:
        raise PathError("name at least one tracked file or directory to untrack")
    report = Report([_one(ws, cache, c, delete) for c in cfiles])
    if in_git:
        try:
            gitignore.unignore(ws.root, (ws.relative(r.path) for r in report.results))
        except OSError as exc:
            report.warnings.append(
                f"could not update {exc.filename}: {exc.strerror or exc}; remove the lines of "
                "the untracked files from it by hand"
            )
    return report


def _one(ws: Workspace, cache: StateCache, cfile: Path, delete: bool) -> FileResult:
    artifact = ws.artifact_for(cfile)
    meta: Metadata | None = None
    # a malformed cfile is removed all the same
    with contextlib.suppress(CavoriteError):
        meta = cache.cfile(cfile)
    cfile.unlink(missing_ok=True)
    if delete:
        artifact.unlink(missing_ok=True)
    outcome = Outcome.DELETED if delete else Outcome.STOPPED_TRACKING
    if meta is None:
        return FileResult(artifact, outcome)
    return FileResult(artifact, outcome, meta.name, meta.size, meta.checksum)
