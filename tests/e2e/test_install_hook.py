"""``cavorite install-hook``: a plain git pre-commit hook, exercised by real ``git commit``s.

The hook must refuse what the pre-commit guard refuses, be idempotent, never clobber a hook it
did not write (``--chain`` moves such a hook aside and runs it first) and honour core.hooksPath.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
from pathlib import Path

import pytest

from cavorite_py import hookscript
from tests.e2e.support import binary, commit_count, committed, run_git, set_options, write
from tests.fixtures.repos import Cavorite, git

FOREIGN = """#!/bin/sh
echo "foreign hook ran" >&2
echo ran >> "$(git rev-parse --git-dir)/foreign.log"
exit "${FOREIGN_EXIT:-0}"
"""


@pytest.fixture
def repo(cavorite_repo: Path, cli_env: dict[str, str]) -> Path:
    """A cavorite repository with one commit (its config), no hook yet."""
    git(cavorite_repo, "add", ".cavorite/config")
    git(cavorite_repo, "commit", "-q", "--no-verify", "-m", "cavorite config")
    return cavorite_repo


def install(cavorite: Cavorite, repo: Path, *args: str) -> None:
    result = cavorite("install-hook", *args, cwd=repo)
    assert result.code == 0, result.stderr


def commit(repo: Path, env: dict[str, str], *paths: str, **extra: str) -> tuple[int, str]:
    """``git add`` the paths, then a real ``git commit`` that runs the hooks."""
    if paths:
        git(repo, "add", "-f", "--", *paths)
    done = run_git(repo, "commit", "-m", "change", env={**env, **extra})
    return done.returncode, done.stdout


def test_install_hook_writes_an_executable_git_hook(
    repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    result = cavorite("install-hook", cwd=repo)
    assert result.code == 0, result.stderr
    hook = repo / ".git" / "hooks" / "pre-commit"
    assert result.stdout.strip() == f"installed {hook}"
    assert os.access(hook, os.X_OK)
    text = hook.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert "cavorite check --staged" in text

    write(repo, "notes.txt", b"plain text is fine\n")
    code, out = commit(repo, cli_env, "notes.txt")
    assert code == 0, out
    assert "notes.txt" in committed(repo, cli_env)


def test_hook_refuses_an_untracked_binary_until_it_is_uploaded(
    repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    install(cavorite, repo)
    write(repo, "tools/bin.dat", binary("bin"))
    before = commit_count(repo, cli_env)

    code, out = commit(repo, cli_env, "tools/bin.dat")
    assert code == 1, out
    assert "cavorite: refused: tools/bin.dat is a binary file and is not tracked by cavorite" in out
    assert (
        "fix: cavorite upload tools/bin.dat && git rm --cached tools/bin.dat "
        "&& git add tools/bin.dat.cfile tools/.gitignore\n"
    ) in out
    assert "1 of 1 files refused" in out
    assert commit_count(repo, cli_env) == before

    # the fix, as printed
    assert cavorite("upload", "tools/bin.dat", cwd=repo).code == 0
    git(repo, "rm", "-q", "--cached", "tools/bin.dat")
    code, out = commit(repo, cli_env, "tools/bin.dat.cfile", "tools/.gitignore")
    assert code == 0, out
    assert commit_count(repo, cli_env) == before + 1
    files = committed(repo, cli_env)
    assert "tools/bin.dat.cfile" in files
    assert "tools/.gitignore" in files
    assert "tools/bin.dat" not in files
    # nothing left out of the fix
    assert git(repo, "status", "--porcelain", "-uall", "--", "tools").stdout == ""


def test_hook_refuses_a_cfile_whose_object_is_not_in_the_store(
    repo: Path, cavorite: Cavorite, cli_env: dict[str, str], local_objects: Path
) -> None:
    install(cavorite, repo)
    write(repo, "x.bin", binary("x"))
    assert cavorite("upload", "x.bin", cwd=repo).code == 0
    (local_objects / "x.bin").unlink()

    code, out = commit(repo, cli_env, "x.bin.cfile", ".gitignore")
    assert code == 1, out
    assert "x.bin.cfile points at object 'x.bin', which is not in the store" in out
    assert "fix: cavorite upload x.bin" in out
    assert "x.bin.cfile" not in committed(repo, cli_env)

    # offline: the store check is skipped, the commit goes through
    code, out = commit(repo, cli_env, CAVORITE_NO_REMOTE_CHECK="1")
    assert code == 0, out
    assert "x.bin.cfile" in committed(repo, cli_env)


def test_hook_refuses_a_malformed_cfile(
    repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    install(cavorite, repo)
    write(repo, "y.bin.cfile", b'{"name": "y.bin", "checksum": "not a sha256"}')

    code, out = commit(repo, cli_env, "y.bin.cfile", CAVORITE_NO_REMOTE_CHECK="1")
    assert code == 1, out
    assert "malformed metadata file" in out
    assert "checksum" in out
    assert commit_count(repo, cli_env) == 1


def test_hook_refuses_a_large_text_file(
    repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    install(cavorite, repo)
    set_options(repo, large_file_threshold="2048")
    git(repo, "commit", "-q", "--no-verify", "-am", "threshold")
    write(repo, "big.csv", b"1,2,3\n" * 400)  # 2400 bytes of text
    write(repo, "small.csv", b"1,2,3\n" * 300)  # 1800 bytes

    code, out = commit(repo, cli_env, "big.csv", "small.csv")
    assert code == 1, out
    assert "big.csv is a large file and is not tracked by cavorite" in out
    assert "small.csv" not in out
    assert "1 of 2 files refused" in out


def test_hook_refuses_an_artifact_staged_next_to_its_cfile(
    repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    install(cavorite, repo)
    write(repo, "a.bin", binary("a"))
    assert cavorite("upload", "a.bin", cwd=repo).code == 0

    code, out = commit(repo, cli_env, "a.bin", "a.bin.cfile")
    assert code == 1, out
    assert "a.bin is tracked by a.bin.cfile but staged itself" in out
    assert "fix: git rm --cached a.bin" in out


@pytest.mark.parametrize("how", [["-a"], ["--", "doc.txt"]], ids=["all", "only-path"])
def test_hook_checks_commits_that_stage_for_themselves(
    repo: Path, cavorite: Cavorite, cli_env: dict[str, str], how: list[str]
) -> None:
    install(cavorite, repo)
    write(repo, "doc.txt", b"text\n")
    assert commit(repo, cli_env, "doc.txt")[0] == 0
    write(repo, "doc.txt", binary("now binary"))  # changed, not staged: git stages it itself

    done = run_git(repo, "commit", "-m", "binary now", *how, env=cli_env)
    assert done.returncode == 1, done.stdout
    assert "doc.txt is a binary file" in done.stdout
    assert commit_count(repo, cli_env) == 2


def test_hook_runs_without_cavorite_on_path(
    repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    install(cavorite, repo)
    git_exe = shutil.which("git")
    assert git_exe is not None
    env = {**cli_env, "PATH": os.path.dirname(git_exe) + os.pathsep + "/bin"}
    assert shutil.which("cavorite", path=env["PATH"]) is None
    write(repo, "bin.dat", binary("bin"))

    code, out = commit(repo, env, "bin.dat")
    assert code == 1, out
    assert "bin.dat is a binary file and is not tracked by cavorite" in out


def test_install_hook_twice_is_idempotent(
    repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    install(cavorite, repo)
    hook = repo / ".git" / "hooks" / "pre-commit"
    first = hook.read_bytes()
    install(cavorite, repo)
    assert hook.read_bytes() == first
    assert not (hook.parent / "pre-commit.legacy").exists()

    write(repo, "bin.dat", binary("bin"))
    code, out = commit(repo, cli_env, "bin.dat")
    assert code == 1
    assert out.count("cavorite: refused:") == 1  # the check runs once, not once per install


def test_a_foreign_hook_is_never_clobbered(repo: Path, cavorite: Cavorite) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(FOREIGN)
    hook.chmod(0o755)

    result = cavorite("install-hook", cwd=repo)
    assert result.code == 2
    assert "was not written by cavorite" in result.stderr
    assert "--chain" in result.stderr
    assert hook.read_text() == FOREIGN
    assert stat.S_IMODE(hook.stat().st_mode) == 0o755
    assert not (hook.parent / "pre-commit.legacy").exists()


def test_chain_moves_the_foreign_hook_aside_and_runs_it_first(
    repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    hooks = repo / ".git" / "hooks"
    (hooks / "pre-commit").write_text(FOREIGN)
    (hooks / "pre-commit").chmod(0o755)
    log = repo / ".git" / "foreign.log"

    result = cavorite("install-hook", "--chain", cwd=repo)
    assert result.code == 0, result.stderr
    assert f"moved the existing hook to {hooks / 'pre-commit.legacy'}" in result.stdout
    assert (hooks / "pre-commit.legacy").read_text() == FOREIGN
    ours = (hooks / "pre-commit").read_bytes()
    assert b"cavorite check --staged" in ours

    # both run, the foreign hook first
    write(repo, "bin.dat", binary("bin"))
    code, out = commit(repo, cli_env, "bin.dat")
    assert code == 1, out
    assert "foreign hook ran" in out
    assert "cavorite: refused:" in out
    assert out.index("foreign hook ran") < out.index("cavorite: refused:")
    assert log.read_text() == "ran\n"

    # the foreign hook's refusal stops the commit too
    git(repo, "rm", "-q", "--cached", "bin.dat")
    write(repo, "notes.txt", b"text\n")
    code, out = commit(repo, cli_env, "notes.txt", FOREIGN_EXIT="3")
    assert code != 0, out
    assert "notes.txt" not in committed(repo, cli_env)
    code, out = commit(repo, cli_env, "notes.txt")
    assert code == 0, out
    assert log.read_text() == "ran\n" * 3

    # installing again (with or without --chain) keeps both hooks as they are
    install(cavorite, repo, "--chain")
    install(cavorite, repo)
    assert (hooks / "pre-commit").read_bytes() == ours
    assert (hooks / "pre-commit.legacy").read_text() == FOREIGN


def test_chain_refuses_when_a_legacy_hook_exists_already(repo: Path, cavorite: Cavorite) -> None:
    hooks = repo / ".git" / "hooks"
    (hooks / "pre-commit").write_text(FOREIGN)
    (hooks / "pre-commit.legacy").write_text("#!/bin/sh\nexit 0\n")

    result = cavorite("install-hook", "--chain", cwd=repo)
    assert result.code == 2
    assert "pre-commit.legacy exists already" in result.stderr
    assert (hooks / "pre-commit").read_text() == FOREIGN
    assert (hooks / "pre-commit.legacy").read_text() == "#!/bin/sh\nexit 0\n"


@pytest.mark.parametrize("form", ["relative", "absolute"])
def test_install_hook_honours_core_hooks_path(
    repo: Path, cavorite: Cavorite, cli_env: dict[str, str], form: str
) -> None:
    target = repo / "tools" / "githooks"
    git(repo, "config", "core.hooksPath", "tools/githooks" if form == "relative" else str(target))

    result = cavorite("install-hook", cwd=repo)
    assert result.code == 0, result.stderr
    assert (target / "pre-commit").is_file()
    assert os.access(target / "pre-commit", os.X_OK)
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()

    write(repo, "bin.dat", binary("bin"))
    code, out = commit(repo, cli_env, "bin.dat")
    assert code == 1, out
    assert "bin.dat is a binary file" in out


def test_install_hook_from_a_subdirectory(
    repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    (repo / "src" / "pkg").mkdir(parents=True)
    result = cavorite("install-hook", cwd=repo / "src" / "pkg")
    assert result.code == 0, result.stderr
    assert (repo / ".git" / "hooks" / "pre-commit").is_file()

    write(repo, "src/pkg/data.bin", binary("data"))
    code, out = commit(repo, cli_env, "src/pkg/data.bin")
    assert code == 1, out
    assert "fix: cavorite upload src/pkg/data.bin" in out


# --------------------------------------------------------------------- known bugs


@pytest.mark.parametrize("working_copy", ["deleted", "replaced by text"])
def test_hook_checks_what_is_staged_not_the_working_tree(
    repo: Path, cavorite: Cavorite, cli_env: dict[str, str], working_copy: str
) -> None:
    install(cavorite, repo)
    write(repo, "bin.dat", binary("bin"))
    git(repo, "add", "bin.dat")
    if working_copy == "deleted":
        (repo / "bin.dat").unlink()
    else:
        (repo / "bin.dat").write_bytes(b"plain text now\n")

    code, out = commit(repo, cli_env)
    assert "bin.dat" not in committed(repo, cli_env), "a binary was committed"
    assert code == 1, out


def test_hook_in_a_cavorite_repository_below_the_git_top_level(
    git_repo: Path, cavorite: Cavorite, cli_env: dict[str, str], local_objects: Path
) -> None:
    sub = git_repo / "assets"
    sub.mkdir()
    init = cavorite("init", "--backend-address", local_objects, ".", cwd=sub)
    assert init.code == 0, init.stderr
    install(cavorite, sub)
    write(git_repo, "README.txt", b"text\n")

    code, out = commit(git_repo, cli_env, "README.txt", "assets/.cavorite/config")
    assert code == 0, out


# --------------------------------------------------------------------- no code from the work tree

PLANTED_MAIN = """import pathlib
pathlib.Path({marker!r}).write_text("repository code ran")
"""


@pytest.mark.parametrize("form", ["console script", "python -I"])
def test_the_hook_runs_no_cavorite_py_committed_to_the_repository(
    repo: Path, cavorite: Cavorite, cli_env: dict[str, str], tmp_path: Path, form: str
) -> None:
    # git runs hooks from the work tree's top level: a `python -m cavorite_py` there would
    # import this committed package instead of the installed one
    marker = tmp_path / "planted-code-ran"
    write(repo, "cavorite_py/__init__.py", b"")
    write(repo, "cavorite_py/__main__.py", PLANTED_MAIN.format(marker=str(marker)).encode())
    git(repo, "add", "cavorite_py")
    git(repo, "commit", "-q", "--no-verify", "-m", "a package of the same name")
    if form == "console script":
        install(cavorite, repo)
        assert hookscript.installed_script() is not None
    else:
        hookscript.install(repo, argv=[hookscript.interpreter(), "-I", "-m", "cavorite_py"])
    git_exe = shutil.which("git")
    assert git_exe is not None
    env = {**cli_env, "PATH": os.path.dirname(git_exe) + os.pathsep + "/bin"}
    assert shutil.which("cavorite", path=env["PATH"]) is None
    write(repo, "bin.dat", binary("bin"))

    code, out = commit(repo, env, "bin.dat")
    assert not marker.exists(), "the hook ran code from the work tree"
    assert code == 1, out
    assert "bin.dat is a binary file and is not tracked by cavorite" in out


def test_the_hook_names_its_program_by_absolute_path(repo: Path, cavorite: Cavorite) -> None:
    install(cavorite, repo)
    text = (repo / ".git" / "hooks" / "pre-commit").read_text()
    runs = [line for line in text.splitlines() if line.startswith("exec ")]
    assert len(runs) == 1
    program = shlex.split(runs[0])[1]
    assert os.path.isabs(program)
    assert "command -v" not in text


def test_a_hook_whose_program_is_gone_says_how_to_fix_it(
    repo: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    gone = tmp_path / "uninstalled" / "cavorite"
    hookscript.install(repo, argv=[str(gone)])
    write(repo, "notes.txt", b"text\n")

    code, out = commit(repo, cli_env, "notes.txt")
    assert code == 1, out
    assert f"cavorite: the program this hook runs is gone: {gone}" in out
    assert "fix: run 'cavorite install-hook' again" in out
