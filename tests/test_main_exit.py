"""The program's end (``cavorite_py.__main__.command``): it skips the interpreter's teardown,
and nothing a run leaves for the exit is lost by that: its status, its output, the exit
handlers, a thread still at work, a status given as a message, a closed pipe."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# ``main`` replaced by ``body``, then the program run as the console script runs it
SCRIPT = """
import sys
import cavorite_py.__main__ as program

def main(argv=None):
{body}

program.main = main
program.command()
"""


def _program(
    body: str, tmp_path: Path, stdout: int | None = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    indented = textwrap.indent(textwrap.dedent(body).strip(), "    ")
    return subprocess.run(
        [sys.executable, "-c", SCRIPT.format(body=indented)],
        cwd=tmp_path,
        # output held in buffers, as when the program writes to a pipe or a file
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_status_and_the_buffered_output_are_kept(tmp_path: Path) -> None:
    done = _program(
        """
        sys.stdout.write("out without a newline")
        sys.stderr.write("err")
        raise SystemExit(3)
        """,
        tmp_path,
    )
    assert (done.returncode, done.stdout, done.stderr) == (3, "out without a newline", "err")


def test_a_run_ending_without_a_status_exits_0(tmp_path: Path) -> None:
    done = _program("print('done')\nraise SystemExit(None)", tmp_path)
    assert (done.returncode, done.stdout) == (0, "done\n")


def test_the_exit_handlers_run_and_what_they_print_is_kept(tmp_path: Path) -> None:
    done = _program(
        """
        import atexit, logging
        logging.basicConfig(stream=sys.stderr, format="%(message)s")
        atexit.register(lambda: print("handler ran"))
        logging.getLogger("x").warning("logged")
        raise SystemExit(0)
        """,
        tmp_path,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "handler ran\n", "logged\n")


def test_a_thread_still_at_work_finishes_before_the_process_ends(tmp_path: Path) -> None:
    done = _program(
        """
        import threading, time
        def late():
            time.sleep(0.2)
            print("the thread's last line")
        threading.Thread(target=late).start()
        raise SystemExit(5)
        """,
        tmp_path,
    )
    assert (done.returncode, done.stdout) == (5, "the thread's last line\n")


def test_a_status_given_as_a_message_is_printed_as_usual(tmp_path: Path) -> None:
    done = _program("raise SystemExit('cavorite: stopped')", tmp_path)
    assert (done.returncode, done.stderr) == (1, "cavorite: stopped\n")


@pytest.mark.skipif(sys.platform == "win32", reason="a pipe without a reader is POSIX's")
def test_output_to_a_pipe_without_a_reader_ends_as_usual(tmp_path: Path) -> None:
    # the reader is gone before the run's buffered output is flushed: the usual exit reports
    # it (status 120), as Python does for any program
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = _program('sys.stdout.write("x" * 100)\nraise SystemExit(0)', tmp_path, write_end)
    finally:
        os.close(write_end)
    assert done.returncode == 120
    assert "BrokenPipeError" in done.stderr
