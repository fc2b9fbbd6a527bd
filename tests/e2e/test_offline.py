"""The content cache in use, as the installed command: clones sharing one cache, a store that
is down, concurrent processes, and track now, push later through real git hooks."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cavorite_py.cache import Cache
from cavorite_py.cachesettings import CacheSettings
from tests.e2e.support import binary, sha256, write
from tests.fixtures.consent import forwarded
from tests.fixtures.emulators import S3Emulator, cli_cloud_env, free_port, running_moto
from tests.fixtures.repos import Cavorite, cavorite_executable, git

FILES = {"a.bin": binary("alpha", 3000), "sub/b.bin": binary("beta", 5000)}
S3_OPTIONS = {"connect_timeout": 1, "read_timeout": 5, "max_attempts": 1}


@pytest.fixture
def cache_dir(cli_env: dict[str, str]) -> Path:
    return Path(cli_env["XDG_CACHE_HOME"]) / "cavorite"


@pytest.fixture
def local_store_cached(cli_env: dict[str, str]) -> None:
    """Downloads from the local store enter the cache even where that takes a copy."""
    config = Path(cli_env["XDG_CONFIG_HOME"]) / "cavorite" / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    doc = json.loads(config.read_text()) if config.exists() else {}
    doc.setdefault("cache", {})["local_store"] = "always"
    config.write_text(json.dumps(doc))


def cached_shas(cache_dir: Path) -> set[str]:
    objects = cache_dir / "objects"
    return {p.parent.name + p.name for p in objects.glob("*/*")} if objects.exists() else set()


def init_s3(cavorite: Cavorite, repo: Path, emulator: S3Emulator, bucket: str) -> None:
    address = f"{emulator.endpoint}/{bucket}"
    env = cli_cloud_env(emulator)
    # path keys: the test names the stored objects by their paths
    code, _, err = cavorite(
        "init",
        "--store-type",
        "s3",
        "--backend-address",
        address,
        "--key-scheme",
        "path",
        cwd=repo,
        env=env,
    )
    assert code == 0, err
    config = repo / ".cavorite" / "config"
    doc = json.loads(config.read_text())
    doc["options"].update(S3_OPTIONS)
    config.write_text(json.dumps(doc, indent=2) + "\n")


def add_files(repo: Path) -> None:
    for rel, data in FILES.items():
        write(repo, rel, data)


def assert_files(repo: Path) -> None:
    for rel, data in FILES.items():
        assert (repo / rel).read_bytes() == data, rel


def commit_all(repo: Path, message: str) -> subprocess.CompletedProcess[str]:
    git(repo, "add", "-A")
    return git(repo, "commit", "-q", "-m", message, check=False)


@pytest.fixture
def own_moto(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A port for a moto_server of the test's own, which it starts and stops as it needs."""
    log_dir = tmp_path / "moto"
    log_dir.mkdir()
    yield free_port(), log_dir


# ------------------------------------------------------------------- two clones, one cache


def test_second_clone_retrieves_from_the_cache_with_the_store_down(
    cavorite: Cavorite, cache_dir: Path, own_moto: tuple[int, Path], tmp_path: Path
) -> None:
    port, log_dir = own_moto
    first = tmp_path / "first"
    first.mkdir()
    git(first, "init", "-q", "--initial-branch=main")
    with running_moto(log_dir, port=port) as emulator:
        env = cli_cloud_env(emulator)
        bucket = emulator.new_bucket()
        init_s3(cavorite, first, emulator, bucket)
        add_files(first)
        code, _, err = cavorite("upload", "a.bin", "sub/b.bin", cwd=first, env=env)
        assert code == 0, err
        for rel in FILES:
            (first / rel).unlink()
        # downloads enter the cache
        code, _, err = cavorite("retrieve", cwd=first, env=env)
        assert code == 0, err
        assert cached_shas(cache_dir) == {sha256(d) for d in FILES.values()}
    git(first, "config", "user.email", "t@example.invalid")
    git(first, "config", "user.name", "T")
    commit_all(first, "artifacts")
    second = tmp_path / "second"
    git(tmp_path, "clone", "-q", str(first), str(second))
    # the store is gone: every byte comes from the cache, verified
    code, out, err = cavorite("retrieve", "--json", cwd=second, env=env)
    assert code == 0, err
    assert json.loads(out)["summary"]["retrieved"] == 2
    assert_files(second)


# -------------------------------------------------------------- offline: track now, push later


def test_offline_upload_commit_then_push_through_the_pre_push_hook(
    cavorite: Cavorite, own_moto: tuple[int, Path], tmp_path: Path
) -> None:
    port, log_dir = own_moto
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "--initial-branch=main")
    git(repo, "config", "user.email", "t@example.invalid")
    git(repo, "config", "user.name", "T")
    with running_moto(log_dir, port=port) as emulator:
        env = cli_cloud_env(emulator)
        bucket = emulator.new_bucket()
        init_s3(cavorite, repo, emulator, bucket)
    add_files(repo)

    # the store is down: --no-push sends nothing, and the fallback says what it kept
    code, out, err = cavorite("upload", "--no-push", "a.bin", cwd=repo, env=env)
    assert code == 0, err
    assert "not pushed      a.bin" in out
    code, out, err = cavorite("upload", "sub/b.bin", cwd=repo, env=env)
    assert code == 1
    assert "cavorite: warning: store unreachable: kept 1 file for `cavorite push`" in err
    assert "not pushed      sub/b.bin" in out
    assert (repo / "sub" / "b.bin.cfile").exists()
    code, out, _ = cavorite("status", "--json", cwd=repo, env=env)
    doc = json.loads(out)
    assert doc["summary"]["not-pushed"] == 2 and doc["ok"], out

    for kind in ([], ["--pre-push"]):
        code, _, err = cavorite("install-hook", *kind, cwd=repo, env=env)
        assert code == 0, err
    hook_env = {**cavorite.env, **forwarded(), **env}
    git(repo, "add", "-A")
    committed = _git(repo, hook_env, "commit", "-q", "-m", "offline")
    assert committed.returncode == 0, committed.stderr
    assert "cavorite: accepted: a.bin.cfile: its object is kept in the cache" in committed.stderr

    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "--initial-branch=main", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    # still offline: the pre-push hook refuses the git push
    refused = _git(repo, hook_env, "push", "-q", "origin", "main")
    assert refused.returncode != 0
    assert git(bare, "rev-parse", "--verify", "-q", "main", check=False).returncode != 0

    with running_moto(log_dir, port=port) as emulator:
        emulator.client().create_bucket(Bucket=bucket)
        pushed = _git(repo, hook_env, "push", "-q", "origin", "main")
        assert pushed.returncode == 0, pushed.stderr
        keys = {o["Key"] for o in emulator.client().list_objects_v2(Bucket=bucket)["Contents"]}
        assert keys == set(FILES)
        code, out, _ = cavorite("push", "--json", cwd=repo, env=env)
        assert (code, json.loads(out)["files"]) == (0, [])  # nothing left: idempotent
        code, out, _ = cavorite("status", "--json", cwd=repo, env=env)
        assert json.loads(out)["summary"]["up-to-date"] == 2

        clone = tmp_path / "clone"
        git(tmp_path, "clone", "-q", str(bare), str(clone))
        empty = tmp_path / "empty-cache"
        code, _, err = cavorite(
            "retrieve", cwd=clone, env={**env, "CAVORITE_CACHE_DIR": str(empty)}
        )
        assert code == 0, err
        assert_files(clone)


def _git_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}


def _git(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=repo,
        env=_git_env(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


# ----------------------------------------------------------------------------- concurrency


def _clone_pair(cavorite_repo: Path, cavorite: Cavorite, tmp_path: Path, count: int) -> list[Path]:
    for i in range(count):
        write(cavorite_repo, f"d/f{i:02}.bin", binary(f"file{i}", 20_000 + i))
    code, _, err = cavorite("upload", "d", cwd=cavorite_repo)
    assert code == 0, err
    commit_all(cavorite_repo, "data")
    clones = []
    for name in ("one", "two"):
        clone = tmp_path / name
        git(tmp_path, "clone", "-q", str(cavorite_repo), str(clone))
        clones.append(clone)
    return clones


def _start(cavorite: Cavorite, repo: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [cavorite_executable(), *args],
        cwd=repo,
        env={**cavorite.env, **forwarded()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _all_correct(clone: Path, count: int) -> None:
    for i in range(count):
        assert (clone / "d" / f"f{i:02}.bin").read_bytes() == binary(f"file{i}", 20_000 + i)


@pytest.mark.usefixtures("local_store_cached")
def test_two_retrieves_of_the_same_objects_at_once(
    cavorite_repo: Path, cavorite: Cavorite, tmp_path: Path, cache_dir: Path
) -> None:
    count = 30
    clones = _clone_pair(cavorite_repo, cavorite, tmp_path, count)
    runs = [_start(cavorite, clone, "retrieve", "--jobs", "4") for clone in clones]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    for clone in clones:
        _all_correct(clone, count)
    assert len(cached_shas(cache_dir)) == count


@pytest.mark.usefixtures("local_store_cached")
def test_a_retrieve_racing_an_eviction(
    cavorite_repo: Path, cavorite: Cavorite, tmp_path: Path, cache_dir: Path
) -> None:
    count = 30
    first, second = _clone_pair(cavorite_repo, cavorite, tmp_path, count)
    code, _, err = cavorite("retrieve", cwd=first)  # the cache holds everything
    assert code == 0, err
    retrieving = _start(cavorite, second, "retrieve", "--jobs", "4")
    cleans = 0
    while retrieving.poll() is None:
        cleaning = subprocess.run(
            [cavorite_executable(), "cache", "clean", "--all"],
            cwd=tmp_path,
            env={**cavorite.env, **forwarded()},
            capture_output=True,
            text=True,
            check=False,
        )
        assert cleaning.returncode == 0, cleaning.stderr
        cleans += 1
    _, err = retrieving.communicate(timeout=120)
    assert retrieving.returncode == 0, err
    assert cleans >= 1
    _all_correct(second, count)


@pytest.mark.usefixtures("local_store_cached")
def test_limits_hold_after_a_run(
    cavorite_repo: Path, cavorite: Cavorite, tmp_path: Path, cache_dir: Path
) -> None:
    count = 6
    first, second = _clone_pair(cavorite_repo, cavorite, tmp_path, count)
    code, _, err = cavorite("retrieve", cwd=first, env={"CAVORITE_CACHE_MAX_OBJECTS": "4"})
    assert code == 0, err
    assert len(cached_shas(cache_dir)) == 4
    code, _, err = cavorite("retrieve", cwd=second, env={"CAVORITE_CACHE_MAX_SIZE": "50000"})
    assert code == 0, err
    cache = Cache(CacheSettings(cache_dir, 0, 0))
    usage = cache.usage()
    assert usage.size <= 50_000 and usage.objects == 2
    _all_correct(first, count)
    _all_correct(second, count)
