"""An artifact that changes over time, in real git repositories: a teammate's new version is
outdated (replaced by retrieve without --force), a local edit is modified (kept); the
post-checkout and post-merge hooks bring each commit's bytes; untrack and orphans.

Until every repository writes versioned keys, each version here is uploaded under its own key
prefix (or with --force): nothing below depends on the key scheme.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from tests.e2e.support import binary, json_report, labels, outcomes, run_git, set_options, write
from tests.fixtures.emulators import S3Emulator, cli_cloud_env
from tests.fixtures.repos import Cavorite, git

V1, V2, V3 = binary("version one"), binary("version two"), binary("version three")

FOREIGN = """#!/bin/sh
echo "foreign hook ran with $*" >&2
echo ran >> "$(git rev-parse --git-dir)/foreign.log"
exit 3
"""


def ok(cavorite: Cavorite, repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = cavorite(*args, cwd=repo, env=env)
    assert result.code == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def commit_version(
    cavorite: Cavorite,
    repo: Path,
    tag: str,
    data: bytes,
    *upload_args: str,
    env: dict[str, str] | None = None,
) -> None:
    """Write model.bin, upload it, commit everything and tag the commit."""
    write(repo, "model.bin", data)
    ok(cavorite, repo, "upload", "model.bin", *upload_args, env=env)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", tag)
    git(repo, "tag", tag)


def versions(cavorite: Cavorite, repo: Path) -> None:
    """Three versions over three commits, tagged v1 to v3, each under its own key."""
    for tag, data in (("v1", V1), ("v2", V2), ("v3", V3)):
        set_options(repo, object_key_prefix=tag)
        commit_version(cavorite, repo, tag, data)


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "--initial-branch=main", str(bare))
    return bare


@pytest.fixture
def clones(
    cavorite_repo: Path, origin: Path, cavorite: Cavorite, tmp_path: Path
) -> tuple[Path, Path]:
    """Two clones of ``origin``: the first (where cavorite was set up) pushed v1; the second
    cloned it and retrieved v1."""
    mine = cavorite_repo
    git(mine, "remote", "add", "origin", str(origin))
    commit_version(cavorite, mine, "v1", V1)
    write(mine, "notes.bin", binary("notes one"))
    ok(cavorite, mine, "upload", "notes.bin")
    git(mine, "add", "-A")
    git(mine, "commit", "-q", "--no-verify", "-m", "notes")
    git(mine, "push", "-q", "origin", "main")
    theirs = tmp_path / "theirs"
    git(tmp_path, "clone", "-q", str(origin), str(theirs))
    git(theirs, "config", "user.name", "Teammate")
    git(theirs, "config", "user.email", "teammate@example.invalid")
    ok(cavorite, theirs, "retrieve")
    assert (theirs / "model.bin").read_bytes() == V1
    return mine, theirs


def push_v2(cavorite: Cavorite, mine: Path, env: dict[str, str] | None = None) -> None:
    commit_version(cavorite, mine, "v2", V2, "--force", env=env)
    git(mine, "push", "-q", "origin", "main")


def test_a_teammates_new_version_is_outdated_and_retrieved_without_force(
    clones: tuple[Path, Path], cavorite: Cavorite
) -> None:
    mine, theirs = clones
    push_v2(cavorite, mine)
    write(mine, "notes.bin", binary("notes two"))
    ok(cavorite, mine, "upload", "--force", "notes.bin")
    git(mine, "commit", "-q", "--no-verify", "-am", "notes two")
    git(mine, "push", "-q", "origin", "main")
    # edited by hand here: content cavorite never saw
    edited = binary("my own notes")
    write(theirs, "notes.bin", edited)
    git(theirs, "pull", "-q", "--no-rebase")

    status = cavorite("status", cwd=theirs)
    assert status.code == 1
    assert labels(status.stdout) == {"model.bin": "outdated", "notes.bin": "modified"}
    doc = json_report(cavorite("status", "--json", cwd=theirs), "status")
    assert doc["summary"]["outdated"] == 1 and doc["summary"]["modified"] == 1

    retrieve = cavorite("retrieve", cwd=theirs)
    assert retrieve.code == 1
    assert "retrieved       model.bin  (was outdated)" in retrieve.stdout
    assert (theirs / "model.bin").read_bytes() == V2
    assert (theirs / "notes.bin").read_bytes() == edited
    message = retrieve.stderr
    assert "notes.bin: modified locally: holds content cavorite did not put there" in message
    assert "to keep it, upload it (a new version in a versioned repository)" in message
    assert "to discard it, retrieve --force" in message
    assert "upload it to keep the change" not in message
    assert labels(cavorite("status", cwd=theirs).stdout)["model.bin"] == "up to date"


def test_without_the_state_cache_an_outdated_file_is_kept_as_modified(
    clones: tuple[Path, Path], cavorite: Cavorite
) -> None:
    mine, theirs = clones
    push_v2(cavorite, mine)
    git(theirs, "pull", "-q", "--no-rebase")
    (theirs / ".cavorite" / "state.db").unlink()

    assert labels(cavorite("status", cwd=theirs).stdout)["model.bin"] == "modified"
    assert cavorite("retrieve", cwd=theirs).code == 1
    assert (theirs / "model.bin").read_bytes() == V1
    ok(cavorite, theirs, "retrieve", "--force")
    assert (theirs / "model.bin").read_bytes() == V2


def test_an_uploaded_version_is_outdated_after_checking_out_an_older_commit(
    cavorite_repo: Path, cavorite: Cavorite
) -> None:
    versions(cavorite, cavorite_repo)
    git(cavorite_repo, "checkout", "-q", "v1")
    assert labels(cavorite("status", cwd=cavorite_repo).stdout) == {"model.bin": "outdated"}
    ok(cavorite, cavorite_repo, "retrieve")
    assert (cavorite_repo / "model.bin").read_bytes() == V1


# --------------------------------------------------------------------- hooks


def test_the_post_checkout_hook_brings_each_commits_bytes(
    cavorite_repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    repo = cavorite_repo
    versions(cavorite, repo)
    out = ok(cavorite, repo, "install-hook", "--checkout")
    hooks = repo / ".git" / "hooks"
    assert out.splitlines() == [
        f"installed {hooks / 'post-checkout'}",
        f"installed {hooks / 'post-merge'}",
    ]
    assert not (hooks / "pre-commit").exists()
    for name in ("post-checkout", "post-merge"):
        run = (hooks / name).read_text().splitlines()[-2]
        assert run.endswith(f' {name} "$@" || true'), run
        assert os.path.isabs(shlex.split(run)[0]), run
    for tag, data in (("v1", V1), ("v3", V3), ("v2", V2), ("v1", V1)):
        done = run_git(repo, "checkout", "-q", tag, env=cli_env)
        assert done.returncode == 0, done.stdout
        assert (repo / "model.bin").read_bytes() == data, tag
        assert "retrieved       model.bin  (was outdated)" in done.stdout
    # a file checkout (flag 0): every cfile is looked at
    done = run_git(repo, "checkout", "v3", "--", "model.bin.cfile", env=cli_env)
    assert done.returncode == 0, done.stdout
    assert (repo / "model.bin").read_bytes() == V3


def test_the_hooks_keep_a_local_edit_and_never_fail_git(
    cavorite_repo: Path, cavorite: Cavorite, cli_env: dict[str, str], local_objects: Path
) -> None:
    repo = cavorite_repo
    versions(cavorite, repo)
    ok(cavorite, repo, "install-hook", "--checkout")
    write(repo, "model.bin", b"edited by hand")
    done = run_git(repo, "checkout", "-q", "v1", env=cli_env)
    assert done.returncode == 0, done.stdout
    assert (repo / "model.bin").read_bytes() == b"edited by hand"
    assert "model.bin: modified locally" in done.stdout
    assert "cavorite: the checkout itself is done" in done.stdout

    # the store is gone: the checkout still succeeds, and says what went wrong
    (repo / "model.bin").unlink()
    local_objects.rename(local_objects.with_name("moved"))
    done = run_git(repo, "checkout", "-q", "v2", env=cli_env)
    assert done.returncode == 0, done.stdout
    assert "cavorite: error: model.bin" in done.stdout
    assert "cavorite: the checkout itself is done; run 'cavorite retrieve'" in done.stdout
    assert git(repo, "rev-parse", "HEAD").stdout == git(repo, "rev-parse", "v2^{}").stdout


def test_a_chained_foreign_post_checkout_hook_still_runs(
    cavorite_repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    repo = cavorite_repo
    versions(cavorite, repo)
    hooks = repo / ".git" / "hooks"
    (hooks / "post-checkout").write_text(FOREIGN)
    (hooks / "post-checkout").chmod(0o755)
    refused = cavorite("install-hook", "--all", cwd=repo)
    assert refused.code == 2
    assert "post-checkout exists and was not written by cavorite; use --chain" in refused.stderr
    # nothing was installed: every hook is checked before any is written
    assert not (hooks / "pre-commit").exists() and not (hooks / "post-merge").exists()

    out = ok(cavorite, repo, "install-hook", "--all", "--chain")
    assert f"moved the existing hook to {hooks / 'post-checkout.legacy'}; it runs first" in out
    assert {"pre-commit", "post-checkout", "post-merge"} <= {p.name for p in hooks.iterdir()}
    done = run_git(repo, "checkout", "-q", "v1", env=cli_env)
    assert done.returncode == 0, done.stdout
    assert "foreign hook ran with" in done.stdout
    assert (repo / ".git" / "foreign.log").read_text() == "ran\n"
    assert (repo / "model.bin").read_bytes() == V1
    # installing again keeps the chain, and changes nothing else
    ok(cavorite, repo, "install-hook", "--all")
    assert (hooks / "post-checkout.legacy").read_text() == FOREIGN


def test_the_post_merge_hook_brings_a_pulled_version(
    clones: tuple[Path, Path], cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    mine, theirs = clones
    ok(cavorite, theirs, "install-hook", "--checkout")
    push_v2(cavorite, mine)
    done = run_git(theirs, "pull", "-q", "--no-rebase", env=cli_env)
    assert done.returncode == 0, done.stdout
    assert (theirs / "model.bin").read_bytes() == V2
    assert "retrieved       model.bin  (was outdated)" in done.stdout
    # notes.bin's cfile did not change: not looked at
    assert "notes.bin" not in done.stdout


def test_outdated_against_an_s3_emulator(
    clones: tuple[Path, Path], cavorite: Cavorite, s3_emulator: S3Emulator
) -> None:
    """The same rules whatever the store: a fresh pair of clones on an S3 bucket."""
    from tests.fixtures.cloud import S3_TEST_OPTIONS

    mine, theirs = clones
    env = cli_cloud_env(s3_emulator)
    config = mine / ".cavorite" / "config"
    data = json.loads(config.read_text())
    data["store_type"] = "s3"
    data["options"]["backend_address"] = f"{s3_emulator.endpoint}/{s3_emulator.new_bucket()}"
    data["options"].update(S3_TEST_OPTIONS)
    config.write_text(json.dumps(data))
    ok(cavorite, mine, "upload", "--force", "model.bin", env=env)
    git(mine, "commit", "-q", "--no-verify", "-am", "on s3")
    git(mine, "push", "-q", "origin", "main")
    git(theirs, "pull", "-q", "--no-rebase")
    (theirs / "model.bin").unlink()
    ok(cavorite, theirs, "retrieve", "model.bin", env=env)
    push_v2(cavorite, mine, env=env)
    git(theirs, "pull", "-q", "--no-rebase")
    assert labels(cavorite("status", cwd=theirs, env=env).stdout)["model.bin"] == "outdated"
    out = ok(cavorite, theirs, "retrieve", "model.bin", env=env)
    assert "(was outdated)" in out
    assert (theirs / "model.bin").read_bytes() == V2


# --------------------------------------------------------------------- untrack, orphans


def test_untrack_keeps_the_file_and_delete_removes_it(
    cavorite_repo: Path, cavorite: Cavorite
) -> None:
    repo = cavorite_repo
    for name in ("a.bin", "sub/b.bin", "sub/c.bin"):
        write(repo, name, binary(name))
    ok(cavorite, repo, "upload", "a.bin", "sub")
    (repo / ".gitignore").write_text("/notes.local\n" + (repo / ".gitignore").read_text())

    refused = cavorite("untrack", "a.bin", "nothing.bin", cwd=repo)
    assert refused.code == 2
    assert "nothing.bin: no metadata file nothing.bin.cfile" in refused.stderr
    assert (repo / "a.bin.cfile").exists()

    out = ok(cavorite, repo, "untrack", "a.bin")
    assert "stopped tracking a.bin" in out
    assert (repo / "a.bin").read_bytes() == binary("a.bin")
    assert not (repo / "a.bin.cfile").exists()
    assert (repo / ".gitignore").read_text() == "/notes.local\n"

    doc = json_report(
        cavorite("untrack", "--delete", "--json", "sub/b.bin.cfile", cwd=repo), "untrack"
    )
    assert outcomes(doc) == [("sub/b.bin", "deleted")]
    assert not (repo / "sub" / "b.bin").exists()
    assert (repo / "sub" / ".gitignore").read_text() == "/c.bin\n"
    status = cavorite("status", cwd=repo)
    assert labels(status.stdout) == {"sub/c.bin": "up to date", "a.bin": "untracked"}


def test_status_reports_orphans_in_text_and_json(cavorite_repo: Path, cavorite: Cavorite) -> None:
    repo = cavorite_repo
    for name in ("a.bin", "sub/b.bin", "kept.bin"):
        write(repo, name, binary(name))
    ok(cavorite, repo, "upload", "a.bin", "sub", "kept.bin")
    write(repo, "notes.local", b"the user's own ignored file")
    with open(repo / ".gitignore", "a") as f:
        f.write("/notes.local\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", "artifacts")
    git(repo, "rm", "-q", "a.bin.cfile")
    # never committed, but uploaded here
    (repo / "sub" / "b.bin.cfile").unlink()

    status = cavorite("status", cwd=repo)
    assert status.code == 1
    assert labels(status.stdout) == {
        "kept.bin": "up to date",
        "a.bin": "orphaned",
        "sub/b.bin": "orphaned",
    }
    assert "a.bin  (its cfile is gone; upload it to track it again" in status.stdout
    doc = json_report(cavorite("status", "--json", cwd=repo), "status")
    assert doc["summary"]["orphaned"] == 2
    assert sorted(p for p, o in outcomes(doc) if o == "orphaned") == ["a.bin", "sub/b.bin"]

    # checking out a commit without the cfile orphans it too; back again, it is tracked
    git(repo, "commit", "-q", "--no-verify", "-m", "a.bin untracked")
    git(repo, "checkout", "-q", "HEAD~1")
    (repo / "sub" / "b.bin").unlink()
    assert labels(cavorite("status", cwd=repo).stdout)["a.bin"] == "up to date"
    git(repo, "checkout", "-q", "main")
    assert labels(cavorite("status", cwd=repo).stdout)["a.bin"] == "orphaned"
    assert os.path.exists(repo / "a.bin")
