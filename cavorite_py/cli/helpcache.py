"""Help printed again from the user's cache: ``cavorite``, ``cavorite --help`` and
``cavorite COMMAND [SUBCOMMAND] --help`` (or ``-h``) cost a Python start and one file read
instead of importing Typer and rich and building the application (about 0.1 s, measured;
docs/performance.md).

The first such run prints its help as always and records what it wrote, in order, with its exit
code, in ``<user cache>/help/`` (see :mod:`cavorite_py.usercache`), one file per command line.
A later run prints that record only when everything the help depends on is as it was:

- the command line, the Python version and ``sys.path``;
- the environment variables that Typer, Click and rich read (:data:`ENVIRONMENT`; a test reads
  their sources for every name they look up);
- whether stdin, stdout and stderr are terminals, the terminal's size (found as rich finds it)
  and the output streams' encodings;
- every module file loaded while the help was made (Typer, rich, Click, cavorite's own, the
  standard library): path, modification time and size.

Anything else (no record, another key, a file changed, a record that cannot be read) prints the
help the usual way and records it again. Records are written with :mod:`marshal`, which holds
only data (loading one runs no code), through a temporary file renamed into place. A run that
cannot write one (a read-only home) prints its help all the same.
"""

from __future__ import annotations

import marshal
import os
import sys

from .. import __version__, usercache
from .names import COMMAND_MODULES

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TextIO

FORMAT = 1
"""the layout of a record; a record of another layout is made again"""

HELP_FLAGS = ("-h", "--help")

ENVIRONMENT = (
    "COLORTERM",
    "COLUMNS",
    "DATABRICKS_RUNTIME_VERSION",
    "FORCE_COLOR",
    "GITHUB_ACTIONS",
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_MESSAGES",
    "LINES",
    "NO_COLOR",
    "PYTHONIOENCODING",
    "PY_COLORS",
    "TERM",
    "TERMINAL_WIDTH",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "TYPER_STANDARD_TRACEBACK",
    "TYPER_USE_RICH",
    "UNICODE_VERSION",
    "_TYPER_FORCE_DISABLE_TERMINAL",
    "_TYPER_STANDARD_TRACEBACK",
)
"""the environment variables that Typer, Click and rich read which can change help (the width,
colours, the terminal's abilities, the language of their messages)"""

SAFE = frozenset(
    ("isatty", "fileno", "encoding", "errors", "flush", "closed", "name", "mode", "writable")
)
"""what a stream is asked while help is recorded without bypassing its ``write``"""

Record = tuple[tuple[int, str], ...]
"""what a run wrote: (1 for stdout or 2 for stderr, text), in order"""


def applies(args: list[str]) -> bool:
    """Whether ``args`` ask for help that a record may give: none, or ``-h``/``--help`` after
    at most a command and a subcommand, outside shell completion."""
    if "_CAVORITE_COMPLETE" in os.environ:
        return False
    if not args:
        return True
    *words, last = args
    if last not in HELP_FLAGS or len(words) > 2:
        return False
    if words and words[0] not in COMMAND_MODULES:
        return False
    return all(word.isascii() and word.replace("-", "").isalpha() for word in words)


def replay(args: list[str]) -> int | None:
    """Print the record of ``args`` and return its exit code, or None (nothing printed) when
    there is no record that holds for this run."""
    entry = _read(_path(args))
    if entry is None or entry[1] != key(args) or not _unchanged(entry[2]):
        return None
    for number, text in entry[3]:
        stream = sys.stdout if number == 1 else sys.stderr
        stream.write(text)
        stream.flush()
    code: int = entry[4]
    return code


def record(args: list[str], render: Callable[[], int]) -> int:
    """``render()``, which prints the help of ``args``, with what it writes recorded."""
    current = key(args)
    written: list[tuple[int, str]] = []
    bypassed: list[str] = []
    real = sys.stdout, sys.stderr
    sys.stdout = _Tee(real[0], 1, written, bypassed)
    sys.stderr = _Tee(real[1], 2, written, bypassed)
    try:
        code = render()
    finally:
        sys.stdout, sys.stderr = real
    if not bypassed:
        _write(_path(args), current, _joined(written), code)
    return code


def _joined(written: list[tuple[int, str]]) -> Record:
    """``written`` with the texts written one after the other to one stream joined."""
    joined: list[tuple[int, str]] = []
    for number, text in written:
        if joined and joined[-1][0] == number:
            joined[-1] = (number, joined[-1][1] + text)
        else:
            joined.append((number, text))
    return tuple(joined)


def key(args: list[str]) -> tuple[object, ...]:
    """What the help of ``args`` depends on, other than module files."""
    environment = tuple(os.environ.get(name) for name in ENVIRONMENT)
    return (tuple(args), __version__, sys.version, tuple(sys.path), environment, _terminal())


def directory() -> str:
    """Where the records are."""
    return os.path.join(usercache.base(), "help")


def _path(args: list[str]) -> str:
    return os.path.join(directory(), " ".join(["help", *args]).replace(" ", "_"))


def _terminal() -> tuple[object, ...]:
    """Which of stdin, stdout, stderr are terminals; the size rich takes (the first of the
    three that has one); the output streams' encodings."""
    size: tuple[int, int] | None = None
    for fd in (0, 1, 2):
        try:
            size = tuple(os.get_terminal_size(fd))  # type: ignore[assignment]
        except (AttributeError, ValueError, OSError):
            continue
        break
    ttys = tuple(_isatty(stream) for stream in (sys.stdin, sys.stdout, sys.stderr))
    codecs = tuple(
        (getattr(stream, "encoding", None), getattr(stream, "errors", None))
        for stream in (sys.stdout, sys.stderr)
    )
    return ttys, size, codecs


def _isatty(stream: TextIO | None) -> bool | None:
    try:
        return None if stream is None else stream.isatty()
    except (AttributeError, ValueError, OSError):
        return None


def _read(path: str) -> tuple[Any, ...] | None:
    """The record at ``path`` if it has the expected layout, else None."""
    try:
        with open(path, "rb") as file:
            entry = marshal.loads(file.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not (isinstance(entry, tuple) and len(entry) == 5 and entry[0] == FORMAT):
        return None
    _format, _key, stamps, written, code = entry
    shaped = isinstance(stamps, tuple) and isinstance(written, tuple) and isinstance(code, int)
    return entry if shaped else None


def _unchanged(stamps: tuple[tuple[str, int, int], ...]) -> bool:
    """Whether every file of ``stamps`` has the modification time and size it had."""
    try:
        for path, mtime, size in stamps:
            found = os.stat(path)
            if found.st_mtime_ns != mtime or found.st_size != size:
                return False
    except (OSError, TypeError, ValueError):
        return False
    return True


def _stamps() -> tuple[tuple[str, int, int], ...] | None:
    """Path, modification time and size of every module file loaded; None if one is gone."""
    files = {getattr(module, "__file__", None) for module in list(sys.modules.values())}
    stamps = []
    for path in sorted(f for f in files if isinstance(f, str)):
        try:
            found = os.stat(path)
        except OSError:
            return None
        stamps.append((path, found.st_mtime_ns, found.st_size))
    return tuple(stamps)


def _write(path: str, current: tuple[object, ...], written: Record, code: int) -> None:
    """Record the help; a record that cannot be written is left out (the help was printed)."""
    stamps = _stamps()
    if stamps is None:
        return
    import contextlib

    entry: Any = (FORMAT, current, stamps, written, code)
    with contextlib.suppress(OSError, ValueError):
        usercache.write_atomically(path, marshal.dumps(entry))


class _Tee:
    """A text stream that records what is written to it before passing it on. Anything but
    :data:`SAFE` asked of it (its binary buffer, ``writelines``...) may write around the
    record, so it marks the record as incomplete (it is then not kept)."""

    def __init__(
        self, stream: TextIO, number: int, written: list[tuple[int, str]], bypassed: list[str]
    ) -> None:
        self._stream = stream
        self._number = number
        self._written = written
        self._bypassed = bypassed

    def write(self, text: str) -> int:
        # after the stream took it: Click writes b"" to see whether a stream is binary
        count = self._stream.write(text)
        self._written.append((self._number, text))
        return count

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._stream, name)
        if name not in SAFE:
            self._bypassed.append(name)
        return found
