"""The real pre-commit framework, with this checkout as its hook repository, guarding real
``git commit``s in temporary repositories.

The checkout's source is copied into a fresh git repository (the working tree may hold
uncommitted changes) and named in ``.pre-commit-config.yaml`` by path and commit. The hook
environment is built once per session under a session-scoped ``PRE_COMMIT_HOME``; the build
pip-installs cavorite-py and the local store plugin (from the copy) and their dependencies from
the package index, which takes from seconds to a minute or two.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.support import (
    binary,
    commit_count,
    committed,
    run_git,
    set_options,
    write,
)
from tests.fixtures.repos import Cavorite, git
from tests.fixtures.shared import made_once

pytestmark = pytest.mark.timeout(900)

CHECKOUT = Path(__file__).resolve().parents[2]
SOURCE = ["pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "cavorite_py", "plugins"]
"""What the hook repository needs: the package, the local store plugin and the hook manifest."""
LEFT_OUT = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
PASSED_THROUGH = (
    "PIP_",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "TZ",
)
"""Variables the hook environment's pip may need to reach the package index."""


def pre_commit_executable() -> str:
    beside = Path(sys.executable).with_name("pre-commit")
    if beside.is_file():
        return str(beside)
    found = shutil.which("pre-commit")
    if found is None:
        pytest.fail("pre-commit is not installed in the test environment (pip install pre-commit)")
    return found


def run_pre_commit(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [pre_commit_executable(), *args],
        cwd=repo,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        timeout=600,
    )


def config_text(hook_repo: Path, rev: str, ids: tuple[str, ...] = ("cavorite-check",)) -> str:
    localstore = [str(hook_repo / "plugins" / "localstore")]
    hooks = [{"id": hook_id, "additional_dependencies": localstore} for hook_id in ids]
    return json.dumps({"repos": [{"repo": str(hook_repo), "rev": rev, "hooks": hooks}]}, indent=2)


@pytest.fixture(scope="session")
def hook_repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A git repository holding a copy of this checkout's source, and its commit (one for the
    whole run: the hook environment is built for it)."""
    dest = made_once(tmp_path_factory, "hook-repository", copy_checkout)
    return dest, git(dest, "rev-parse", "HEAD").stdout.strip()


def copy_checkout(dest: Path) -> None:
    for name in SOURCE:
        source = CHECKOUT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=LEFT_OUT)
        else:
            shutil.copy2(source, dest / name)
    git(dest, "init", "-q", "--initial-branch=main")
    git(dest, "add", "-A")
    git(
        dest,
        "-c",
        "user.name=Test",
        "-c",
        "user.email=test@example.invalid",
        "commit",
        "-q",
        "--no-verify",
        "-m",
        "cavorite-py under test",
    )


@pytest.fixture(scope="session")
def pre_commit_home(
    tmp_path_factory: pytest.TempPathFactory, hook_repository: tuple[Path, str]
) -> Path:
    """PRE_COMMIT_HOME with the hook environment built (once per run: the workers share it,
    as pre-commit allows)."""

    def build(base: Path) -> None:
        scratch = base / "scratch"
        scratch.mkdir()
        git(scratch, "init", "-q")
        (scratch / ".pre-commit-config.yaml").write_text(config_text(*hook_repository))
        env = {
            **build_env(base / "home"),
            "PRE_COMMIT_HOME": str(base / "cache"),
        }
        done = run_pre_commit(scratch, "install-hooks", env=env)
        assert done.returncode == 0, f"building the hook environment failed:\n{done.stdout}"

    return made_once(tmp_path_factory, "pre-commit", build) / "cache"


def build_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith(PASSED_THROUGH)}
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        LC_ALL="C.UTF-8",
    )
    home.mkdir(parents=True, exist_ok=True)
    return env


@pytest.fixture
def env(cli_env: dict[str, str], pre_commit_home: Path) -> dict[str, str]:
    passed = {k: v for k, v in os.environ.items() if k.startswith(PASSED_THROUGH)}
    return {**passed, **cli_env, "PRE_COMMIT_HOME": str(pre_commit_home)}


@pytest.fixture
def repo(cavorite_repo: Path, hook_repository: tuple[Path, str], env: dict[str, str]) -> Path:
    """A cavorite repository using the framework, its configuration committed through it."""
    (cavorite_repo / ".pre-commit-config.yaml").write_text(config_text(*hook_repository))
    set_options(cavorite_repo, large_file_threshold=4096)
    installed = run_pre_commit(cavorite_repo, "install", env=env)
    assert installed.returncode == 0, installed.stdout
    assert "pre-commit installed" in installed.stdout
    write(cavorite_repo, "README.txt", b"a repository with artifacts\n")
    code, out = commit(cavorite_repo, env, ".")
    assert code == 0, out
    assert passed(out)
    return cavorite_repo


def commit(repo: Path, env: dict[str, str], *paths: str, **extra: str) -> tuple[int, str]:
    """``git add`` the paths, then a real ``git commit`` through the framework's hook."""
    if paths:
        git(repo, "add", "--", *paths)
    done = run_git(repo, "commit", "-m", "change", env={**env, **extra})
    return done.returncode, done.stdout


def passed(out: str) -> bool:
    return any(
        line.startswith("cavorite check") and line.endswith("Passed") for line in out.splitlines()
    )


def failed(out: str) -> bool:
    return any(
        line.startswith("cavorite check") and line.endswith("Failed") for line in out.splitlines()
    )


def test_untracked_binary_is_refused_until_uploaded(
    repo: Path, cavorite: Cavorite, env: dict[str, str]
) -> None:
    write(repo, "media/intro.mp4", binary("video", 3000))
    before = commit_count(repo, env)

    code, out = commit(repo, env, "media/intro.mp4")
    assert code == 1, out
    assert failed(out)
    assert "- hook id: cavorite-check" in out
    assert (
        "cavorite: refused: media/intro.mp4 is a binary file and is not tracked by cavorite"
    ) in out
    assert "fix: cavorite upload media/intro.mp4" in out
    assert commit_count(repo, env) == before

    upload = cavorite("upload", "media/intro.mp4", cwd=repo)
    assert upload.code == 0, upload.stderr
    git(repo, "rm", "-q", "--cached", "media/intro.mp4")
    git(repo, "add", ".")
    code, out = commit(repo, env)
    assert code == 0, out
    assert passed(out)
    assert commit_count(repo, env) == before + 1
    files = committed(repo, env)
    assert "media/intro.mp4.cfile" in files
    assert "media/.gitignore" in files
    assert "media/intro.mp4" not in files


def test_upload_then_add_everything_commits_the_cfile(
    repo: Path, cavorite: Cavorite, env: dict[str, str]
) -> None:
    write(repo, "a.bin", binary("a"))
    write(repo, "assets/b.bin", binary("b"))
    upload = cavorite("upload", "a.bin", "assets", cwd=repo)
    assert upload.code == 0, upload.stderr

    code, out = commit(repo, env, ".")
    assert code == 0, out
    assert passed(out)
    files = committed(repo, env)
    assert {"a.bin.cfile", "assets/b.bin.cfile"} <= set(files)
    assert not {"a.bin", "assets/b.bin"} & set(files)


def test_cfile_whose_object_was_deleted_is_refused_unless_offline(
    repo: Path, cavorite: Cavorite, env: dict[str, str], local_objects: Path
) -> None:
    write(repo, "model.bin", binary("weights", 5000))
    assert cavorite("upload", "model.bin", cwd=repo).code == 0
    (local_objects / "model.bin").unlink()
    before = commit_count(repo, env)

    code, out = commit(repo, env, ".")
    assert code == 1, out
    assert failed(out)
    assert "model.bin.cfile points at object 'model.bin', which is not in the store" in out
    assert "fix: cavorite upload model.bin" in out
    assert commit_count(repo, env) == before

    code, out = commit(repo, env, CAVORITE_NO_REMOTE_CHECK="1")
    assert code == 0, out
    assert passed(out)
    assert "model.bin.cfile" in committed(repo, env)


def test_remote_check_can_be_turned_off_in_the_config(
    repo: Path, cavorite: Cavorite, env: dict[str, str], local_objects: Path
) -> None:
    set_options(repo, remote_check=False)
    write(repo, "model.bin", binary("weights"))
    assert cavorite("upload", "model.bin", cwd=repo).code == 0
    (local_objects / "model.bin").unlink()

    code, out = commit(repo, env, ".")
    assert code == 0, out
    assert "model.bin.cfile" in committed(repo, env)


def test_cfile_whose_object_holds_other_content_is_refused(
    repo: Path, cavorite: Cavorite, env: dict[str, str], local_objects: Path
) -> None:
    write(repo, "model.bin", binary("weights"))
    assert cavorite("upload", "model.bin", cwd=repo).code == 0
    (local_objects / "model.bin").write_bytes(b"not the uploaded bytes")

    code, out = commit(repo, env, ".")
    assert code == 1, out
    assert "the store's object 'model.bin' holds different content" in out
    assert "fix: cavorite upload model.bin --force" in out


def test_malformed_staged_cfile_is_refused(repo: Path, env: dict[str, str]) -> None:
    write(repo, "lib.so.cfile", b'{"name": "lib.so", "checksum": "e3b0c442", "date_modified": ""}')

    code, out = commit(repo, env, "lib.so.cfile", CAVORITE_NO_REMOTE_CHECK="1")
    assert code == 1, out
    assert failed(out)
    assert "cavorite: refused: malformed metadata file" in out
    assert "lib.so.cfile" in out
    assert "lib.so.cfile" not in committed(repo, env)


def test_large_text_file_over_the_threshold_is_refused(repo: Path, env: dict[str, str]) -> None:
    write(repo, "data/table.csv", b"a,b,c\n" * 700)  # 4200 bytes, over the 4096 in the config
    write(repo, "data/small.csv", b"a,b,c\n" * 600)

    code, out = commit(repo, env, "data")
    assert code == 1, out
    assert "data/table.csv is a large file and is not tracked by cavorite" in out
    assert "fix: cavorite upload data/table.csv" in out
    assert "data/small.csv" not in out
    assert "1 of 2 files refused" in out


def test_staged_binary_is_refused_even_when_its_working_copy_is_gone(
    repo: Path, env: dict[str, str]
) -> None:
    write(repo, "bin.dat", binary("bin"))
    git(repo, "add", "bin.dat")
    (repo / "bin.dat").unlink()  # the framework stashes this unstaged deletion before checking

    code, out = commit(repo, env)
    assert code == 1, out
    assert "bin.dat is a binary file" in out
    assert "bin.dat" not in committed(repo, env)


def test_framework_installed_after_the_plain_hook_runs_both(
    repo: Path, cavorite: Cavorite, env: dict[str, str]
) -> None:
    # the framework's own migration mode: the plain hook becomes pre-commit.legacy
    installed = run_pre_commit(repo, "uninstall", env=env)
    assert installed.returncode == 0, installed.stdout
    assert cavorite("install-hook", cwd=repo).code == 0
    installed = run_pre_commit(repo, "install", env=env)
    assert installed.returncode == 0, installed.stdout
    assert "migration mode" in installed.stdout

    write(repo, "notes.txt", b"text\n")
    code, out = commit(repo, env, "notes.txt")
    assert code == 0, out
    write(repo, "bin.dat", binary("bin"))
    code, out = commit(repo, env, "bin.dat")
    assert code == 1, out
    assert "bin.dat is a binary file" in out


def test_install_hook_leaves_the_framework_hook_alone(
    repo: Path, cavorite: Cavorite, env: dict[str, str]
) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    before = hook.read_bytes()
    for args in (("install-hook",), ("install-hook", "--chain")):
        refused = cavorite(*args, cwd=repo)
        assert refused.code == 2, refused.stderr
        assert "belongs to the pre-commit framework" in refused.stderr
        assert ".pre-commit-config.yaml" in refused.stderr
    assert hook.read_bytes() == before
    assert not (repo / ".git" / "hooks" / "pre-commit.legacy").exists()

    write(repo, "bin.dat", binary("bin"))
    code, out = commit(repo, env, "bin.dat")
    assert code == 1, out
    assert "bin.dat is a binary file" in out


FOLLOWING = ("cavorite-check", "cavorite-retrieve-on-checkout", "cavorite-retrieve-on-merge")


def test_the_post_checkout_and_post_merge_ids_bring_each_commits_bytes(
    repo: Path, cavorite: Cavorite, env: dict[str, str], hook_repository: tuple[Path, str]
) -> None:
    (repo / ".pre-commit-config.yaml").write_text(config_text(*hook_repository, ids=FOLLOWING))
    hook_types = (
        "--hook-type",
        "pre-commit",
        "--hook-type",
        "post-checkout",
        "--hook-type",
        "post-merge",
    )
    installed = run_pre_commit(repo, "install", *hook_types, env=env)
    assert installed.returncode == 0, installed.stdout
    for tag in ("v1", "v2"):
        # each version under its own key, whatever the key scheme
        set_options(repo, object_key_prefix=tag)
        write(repo, "model.bin", binary(tag, 5000))
        assert cavorite("upload", "--force", "model.bin", cwd=repo).code == 0
        code, out = commit(repo, env, ".")
        assert code == 0, out
        git(repo, "tag", tag)

    done = run_git(repo, "checkout", "-q", "v1", env=env)
    assert done.returncode == 0, done.stdout
    assert (repo / "model.bin").read_bytes() == binary("v1", 5000)
    done = run_git(repo, "checkout", "-q", "main", env=env)
    assert done.returncode == 0, done.stdout
    assert (repo / "model.bin").read_bytes() == binary("v2", 5000)

    # a merge that brings v1 back (a revert on a branch) retrieves it
    for args in (
        ("checkout", "-q", "-b", "back", "v1"),
        ("merge", "-q", "-s", "ours", "--no-edit", "main"),
        ("checkout", "-q", "main"),
    ):
        done = run_git(repo, *args, env=env)
        assert done.returncode == 0, done.stdout
    assert (repo / "model.bin").read_bytes() == binary("v2", 5000)
    done = run_git(repo, "merge", "-q", "--ff-only", "back", env=env)
    assert done.returncode == 0, done.stdout
    assert (repo / "model.bin").read_bytes() == binary("v1", 5000)
