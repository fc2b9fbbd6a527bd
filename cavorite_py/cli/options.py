"""Options shared by several commands."""

from __future__ import annotations

import typer

JSON = typer.Option(False, "--json", help="Print one JSON document instead of text.")
JOBS = typer.Option(
    None, "--jobs", "-j", min=1, help="Files transferred at once (default: per store type)."
)
FORCE_UPLOAD = typer.Option(
    False, "--force", "-f", help="Overwrite an object that holds different content."
)
FORCE_RETRIEVE = typer.Option(
    False, "--force", "-f", help="Replace local files that differ from their cfile."
)
INCLUDE = typer.Option(
    None,
    "--include",
    "-I",
    metavar="GLOB",
    help="Under directories, upload only files matching GLOB (repeatable; '*.bin', "
    "'assets/**'). Default: the config's \"track\" patterns, else every file.",
)
EXCLUDE = typer.Option(
    None, "--exclude", "-X", metavar="GLOB", help="Under directories, skip files matching GLOB."
)
