"""The Typer application, its global options, and the one error handler."""

from __future__ import annotations

import inspect
import re

import typer
from typer.core import TyperGroup, TyperOption

from .. import __version__
from . import richhelp
from .base import EXIT_OK, EXIT_USAGE, apply_global_options, error, guarded, interrupted
from .names import COMMAND_MODULES

Command = TyperGroup | typer.core.TyperCommand

ORDER = (
    "init",
    "upload",
    "retrieve",
    "status",
    "verify",
    "check",
    "install-hook",
    "untrack",
    "push",
    "prune",
    "cache",
    "stores",
    "allow-endpoint",
    "allow-plugin",
)
"""commands in the order a user meets them; others follow, as they were added"""


class OrderedGroup(TyperGroup):
    """Lists commands in :data:`ORDER` in help."""

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        known = {name: i for i, name in enumerate(ORDER)}
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: (known.get(n, len(ORDER)), names.index(n)))


app = typer.Typer(
    name="cavorite",
    cls=OrderedGroup,
    help="Keep large binary files out of source control: upload them to an object store and "
    "commit a small verified metadata file (cfile) instead.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

GO_SPELLINGS = {
    f"--{name}": f"--{name.replace('_', '-')}"
    for name in (
        "store_type",
        "backend_address",
        "metadata_file_extension",
        "object_key_prefix",
        "plugin_address",
    )
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cavorite-py {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        metavar="",
        show_default=False,
        help="Say more (the store, keys, causes, timings, for bug reports); -vv adds debug "
        "logging. Before or after the command.",
    ),
    quiet: bool = typer.Option(
        False,
        "--quiet",
        "-q",
        help="Print failures and the summary only. Before or after the command.",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Global options."""
    apply_global_options(verbose, quiet)


def translate_go_spellings(args: list[str]) -> list[str]:
    """Accept the Go tool's ``--store_type`` style, hidden from help."""
    out = []
    for arg in args:
        name, eq, value = arg.partition("=")
        out.append(GO_SPELLINGS.get(name, name) + eq + value if name in GO_SPELLINGS else arg)
    return out


GLOBAL_FLAG = re.compile(r"-[vq]+|--verbose|--quiet")
"""the global options a command line may give after the command too"""

COMMAND_OPTIONS = ("--json", "--jobs", "-j")
"""options of many commands that a command line may give before the command too"""


def place_options(args: list[str]) -> list[str]:
    """``args`` with global options given after the command moved in front of it, and the
    command's own ``--json`` or ``--jobs`` given before it moved after it: ``cavorite status
    -q`` and ``cavorite --json status`` mean what they say. Nothing after ``--`` moves."""
    end = args.index("--") if "--" in args else len(args)
    before, path, after = _split_command(args[:end])
    if not path:
        return args
    command = _command(path)
    front, ahead = _pull_command_options(before)
    behind: list[str] = []
    takes_value = _value_options(command)
    own = _option_names(command)
    i = 0
    while i < len(after):
        token = after[i]
        if GLOBAL_FLAG.fullmatch(token) and token not in own:
            front.append(token)
        else:
            behind.append(token)
            if token in takes_value and i + 1 < len(after):
                i += 1
                behind.append(after[i])
        i += 1
    return [*front, *path, *ahead, *behind, *args[end:]]


def _command_position(args: list[str]) -> int:
    """Where the command is in ``args`` (``len(args)`` when there is none): after the options."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in ("--jobs", "-j") else 1
    return min(i, len(args))


def _split_command(args: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Options before the command, the command (and a subcommand), what follows."""
    i = _command_position(args)
    if i >= len(args):
        return args, [], []
    command = _click_group().commands.get(args[i])
    if command is None:
        return args, [], []
    path = [args[i]]
    rest = args[i + 1 :]
    if isinstance(command, TyperGroup) and rest and rest[0] in command.commands:
        path.append(rest.pop(0))
    return args[:i], path, rest


def _pull_command_options(before: list[str]) -> tuple[list[str], list[str]]:
    """The global options, and the command options, among ``before``."""
    front: list[str] = []
    ahead: list[str] = []
    i = 0
    while i < len(before):
        token = before[i]
        name = token.partition("=")[0]
        if name in ("--jobs", "-j") and "=" not in token and i + 1 < len(before):
            ahead += [token, before[i + 1]]
            i += 1
        elif name in COMMAND_OPTIONS or re.fullmatch(r"-j\d+", token):
            ahead.append(token)
        else:
            front.append(token)
        i += 1
    return front, ahead


_built: dict[tuple[int, int], TyperGroup] = {}
"""the Click group of :data:`app`, by how many commands and groups it had when built: building
it inspects every command's signature, which a run would otherwise pay three times"""


def _click_group() -> TyperGroup:
    key = (len(app.registered_commands), len(app.registered_groups))
    if key not in _built:
        group = typer.main.get_command(app)
        assert isinstance(group, TyperGroup)
        _built.clear()
        _built[key] = group
    return _built[key]


def _command(path: list[str]) -> Command:
    command: Command = _click_group()
    for name in path:
        assert isinstance(command, TyperGroup)
        found = command.commands[name]
        assert isinstance(found, Command)
        command = found
    return command


def _option_names(command: Command) -> set[str]:
    return {name for p in command.params for name in (*p.opts, *p.secondary_opts)}


def _value_options(command: Command) -> set[str]:
    """The options of ``command`` that take a value (whose value may look like an option)."""
    return {
        name
        for p in command.params
        if isinstance(p, TyperOption) and not p.is_flag and not p.count
        for name in p.opts
    }


def load_commands(args: list[str] | None = None) -> None:
    """Import the modules that add commands to :data:`app`: only the one of the command that
    ``args`` name, when they name one (its siblings cost start-up time and are not used), else
    all of them, in one order (help lists them; completion may offer any)."""
    import importlib
    import os

    end = args.index("--") if args is not None and "--" in args else None
    named = args[:end] if args is not None else []
    position = _command_position(named)
    module = COMMAND_MODULES.get(named[position]) if position < len(named) else None
    completing = "_CAVORITE_COMPLETE" in os.environ
    modules = [module] if module and not completing else dict.fromkeys(COMMAND_MODULES.values())
    for name in modules:
        importlib.import_module(f".{name}", __package__)
    if "plugins" in modules:
        from . import plugins

        plugins.register(app)


def tidy_help(typer_app: typer.Typer) -> None:
    """Help texts from docstrings as paragraphs: a docstring's line breaks are not the
    terminal's, and help would otherwise break lines mid-sentence where the source does."""
    for info in typer_app.registered_commands:
        doc = inspect.getdoc(info.callback) if info.callback is not None else None
        text = info.help if isinstance(info.help, str) else doc
        if text:
            info.help = paragraphs(text)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            tidy_help(group.typer_instance)


def paragraphs(text: str) -> str:
    """``text`` with the line breaks inside each paragraph made spaces."""
    return "\n\n".join(" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip()))


def run(args: list[str]) -> int:
    """Run the CLI with ``args``; return the exit code (see :func:`.base.guarded`)."""
    load_commands(args)
    tidy_help(app)
    if richhelp.asks_for_help(args):
        richhelp.import_formatter()
    placed = args

    def call() -> int:
        nonlocal placed
        try:
            placed = place_options(translate_go_spellings(args))
            result = _click_group().main(args=placed, prog_name="cavorite", standalone_mode=False)
        except typer.Exit as exc:
            return exc.exit_code
        except typer.TyperException as exc:  # bad usage: Typer has printed nothing yet
            return _usage_error(exc)
        except typer.Abort:
            return interrupted()
        return result if isinstance(result, int) else EXIT_OK

    return guarded(call, lambda: _shown_command(placed))


def _usage_error(exc: typer.TyperException) -> int:
    show = getattr(exc, "show", None)
    if callable(show):
        show()
    else:
        error(str(exc))
    code = getattr(exc, "exit_code", EXIT_USAGE)
    return code if isinstance(code, int) else EXIT_USAGE


def _shown_command(args: list[str]) -> str:
    """The command (and subcommand) run, without its arguments (which may name secrets)."""
    _before, path, _after = _split_command(args)
    return " ".join(path) or "cavorite"
