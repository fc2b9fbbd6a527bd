"""``cavorite prune`` in real git repositories, on the local store, through the example
executable plugin, and on the S3, GCS and Azure emulators: what any reference names survives
(every branch, a tag, the index, a stash, another work tree); an object uploaded and never
committed goes; the dry run lists exactly what --yes then deletes; every kept commit still
retrieves in a fresh clone; a shallow clone refuses; and a repository sharing a store without a
prefix never deletes the other repository's objects."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cavorite_localstore import LocalStore

from cavorite_py.consent import ENV_VAR
from cavorite_py.prune import Action, Entry, execute
from cavorite_py.stores.base import StoreSettings
from tests.fixtures.cloud import AZURE_TEST_OPTIONS, GCS_TEST_OPTIONS, S3_TEST_OPTIONS
from tests.fixtures.emulators import AzureEmulator, GCSEmulator, S3Emulator, cli_cloud_env
from tests.fixtures.plugins import DIRSTORE_PY
from tests.fixtures.repos import Cavorite, git

PREFIX = "store"
"""the address's own prefix in each bucket or container (not the object_key_prefix)"""


@dataclass
class Site:
    """A store as a test sees it: how to point a repository at it, and what it holds."""

    store_type: str
    address: str
    env: dict[str, str]
    options: dict[str, Any]
    keys: Callable[[], set[str]]
    """every key in the store, as cavorite names them"""
    put: Callable[[str, bytes], None]
    """store an object under a key, through the backend itself"""
    init_args: tuple[str, ...] = ()
    """further options of ``cavorite init`` for this store"""


def local_site(objects: Path) -> Site:
    def keys() -> set[str]:
        return {p.relative_to(objects).as_posix() for p in objects.rglob("*") if p.is_file()}

    def put(key: str, data: bytes) -> None:
        (objects / key).parent.mkdir(parents=True, exist_ok=True)
        (objects / key).write_bytes(data)

    return Site("localstore", str(objects), {}, {}, keys, put)


def s3_site(emulator: S3Emulator) -> Site:
    bucket, client = emulator.new_bucket(), emulator.client()

    def keys() -> set[str]:
        listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/").get("Contents", [])
        return {o["Key"].removeprefix(f"{PREFIX}/") for o in listed}

    def put(key: str, data: bytes) -> None:
        client.put_object(Bucket=bucket, Key=f"{PREFIX}/{key}", Body=data)

    address = f"{emulator.endpoint}/{bucket}/{PREFIX}"
    return Site("s3", address, cli_cloud_env(emulator), S3_TEST_OPTIONS, keys, put)


def gcs_site(emulator: GCSEmulator) -> Site:
    bucket = emulator.client().bucket(emulator.new_bucket())

    def keys() -> set[str]:
        return {b.name.removeprefix(f"{PREFIX}/") for b in bucket.list_blobs(prefix=f"{PREFIX}/")}

    def put(key: str, data: bytes) -> None:
        bucket.blob(f"{PREFIX}/{key}").upload_from_string(data)

    address = f"gs://{bucket.name}/{PREFIX}"
    return Site("gcs", address, cli_cloud_env(emulator), GCS_TEST_OPTIONS, keys, put)


def azure_site(emulator: AzureEmulator) -> Site:
    container = emulator.new_container()

    def keys() -> set[str]:
        with emulator.client() as service:
            blobs = service.get_container_client(container).list_blobs(f"{PREFIX}/")
            return {b.name.removeprefix(f"{PREFIX}/") for b in blobs}

    def put(key: str, data: bytes) -> None:
        with emulator.client() as service:
            service.get_blob_client(container, f"{PREFIX}/{key}").upload_blob(data)

    address = f"az://{container}/{PREFIX}"
    return Site("azure", address, cli_cloud_env(emulator), AZURE_TEST_OPTIONS, keys, put)


def plugin_site(directory: Path) -> Site:
    """The example executable plugin, which tells each object's written time as it lists."""
    objects = directory / "objects"

    def keys() -> set[str]:
        return {p.relative_to(objects).as_posix() for p in objects.rglob("*") if p.is_file()}

    def put(key: str, data: bytes) -> None:
        (objects / key).parent.mkdir(parents=True, exist_ok=True)
        (objects / key).write_bytes(data)

    env = {ENV_VAR: str(DIRSTORE_PY)}
    init = ("--plugin-address", str(DIRSTORE_PY))
    return Site("plugin", directory.as_uri(), env, {}, keys, put, init)


@pytest.fixture(params=["local", "plugin", "s3", "gcs", "azure"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Site:
    if request.param == "plugin":
        return plugin_site(tmp_path / "plugin-store")
    if request.param == "s3":
        return s3_site(request.getfixturevalue("s3_emulator"))
    if request.param == "gcs":
        return gcs_site(request.getfixturevalue("gcs_emulator"))
    if request.param == "azure":
        return azure_site(request.getfixturevalue("azure_emulator"))
    return local_site(tmp_path / "objects")


class Repo:
    """A git repository with cavorite on ``site``, driven through the installed command."""

    def __init__(self, path: Path, site: Site, cavorite: Cavorite, prefix: str = "") -> None:
        self.path, self.site, self._cavorite = path, site, cavorite
        self.prefix = prefix

    def init(self) -> Repo:
        args = ["--object-key-prefix", self.prefix] if self.prefix else []
        self.ok(
            "init",
            "--store-type",
            self.site.store_type,
            "--backend-address",
            self.site.address,
            *self.site.init_args,
            *args,
        )
        config_path = self.path / ".cavorite" / "config"
        config = json.loads(config_path.read_text())
        config["options"].update(self.site.options)
        config_path.write_text(json.dumps(config, indent=2) + "\n")
        return self

    def run(self, *args: str, cwd: Path | None = None) -> tuple[int, str, str]:
        return self._cavorite(*args, cwd=cwd or self.path, env=self.site.env, timeout=300)

    def ok(self, *args: str, cwd: Path | None = None) -> str:
        code, out, err = self.run(*args, cwd=cwd)
        assert code == 0, f"cavorite {' '.join(args)}: {out}{err}"
        return out

    def upload(self, name: str, data: bytes, cwd: Path | None = None) -> str:
        """Upload ``data`` as ``name``; its key."""
        where = cwd or self.path
        (where / name).write_bytes(data)
        self.ok("upload", name, cwd=where)
        return str(json.loads((where / f"{name}.cfile").read_text())["name"])

    def commit(self, message: str, cwd: Path | None = None) -> None:
        where = cwd or self.path
        git(where, "add", "-A")
        git(where, "commit", "--quiet", "--allow-empty", "-m", message)

    def prune(self, *args: str) -> dict[str, Any]:
        code, out, err = self.run("prune", "--json", *args)
        assert code == 0, out + err
        report: dict[str, Any] = json.loads(out)
        return report


def by_action(report: dict[str, Any], action: str) -> set[str]:
    return {o["key"] for o in report["objects"] if o["action"] == action}


def by_reason(report: dict[str, Any], reason: str) -> set[str]:
    return {o["key"] for o in report["objects"] if o["reason"] == reason}


def content(tag: str) -> bytes:
    return f"{tag}\0".encode() * 40


@dataclass
class History:
    """What the repository of :func:`history` holds, by where each key is named."""

    main_tip: str
    old: str
    branch: str
    tagged: str
    indexed: str
    stashed: str
    worktree: str
    uncommitted: str


def history(repo: Repo, tmp_path: Path) -> History:
    """A repository whose objects are each named by one kind of reference only."""
    path = repo.path
    old = repo.upload("old.bin", content("old"))
    repo.commit("old")
    (path / "old.bin.cfile").unlink()
    main = repo.upload("main.bin", content("main"))
    repo.commit("main replaces old")
    git(path, "checkout", "--quiet", "-b", "feature")
    branch = repo.upload("feature.bin", content("feature"))
    repo.commit("feature")
    git(path, "checkout", "--quiet", "-b", "to-tag", "main")
    tagged = repo.upload("tagged.bin", content("tagged"))
    repo.commit("tagged")
    git(path, "tag", "-a", "-m", "release", "v1")
    git(path, "checkout", "--quiet", "main")
    git(path, "branch", "--quiet", "-D", "to-tag")
    stashed = repo.upload("stashed.bin", content("stashed"))
    git(path, "commit", "--quiet", "-m", "ignore stashed.bin", ".gitignore")
    git(path, "add", "stashed.bin.cfile")
    git(path, "stash", "--quiet")
    indexed = repo.upload("indexed.bin", content("indexed"))
    git(path, "add", "indexed.bin.cfile")
    (path / "indexed.bin.cfile").unlink()
    other = tmp_path / "other-worktree"
    git(path, "worktree", "add", "--quiet", "-b", "elsewhere", str(other))
    worktree = repo.upload("worktree.bin", content("worktree"), cwd=other)
    uncommitted = repo.upload("draft.bin", content("draft"))
    (path / "draft.bin.cfile").unlink()
    return History(main, old, branch, tagged, indexed, stashed, worktree, uncommitted)


def retrieves_everywhere(repo: Repo, tmp_path: Path, name: str) -> None:
    """Every commit of every branch and tag retrieves in a fresh clone with no local state."""
    clone = tmp_path / name
    git(tmp_path, "clone", "--quiet", "--no-checkout", str(repo.path), str(clone))
    commits = git(clone, "rev-list", "--all").stdout.split()
    assert commits
    for commit in commits:
        git(clone, "checkout", "--quiet", "--force", "--detach", commit)
        git(clone, "clean", "-fdxq")
        repo.ok("retrieve", cwd=clone)


def test_references_survive_and_the_rest_goes(
    site: Site, make_git_repo: Callable[..., Path], cavorite: Cavorite, tmp_path: Path
) -> None:
    repo = Repo(make_git_repo("repo"), site, cavorite, prefix="proj").init()
    made = history(repo, tmp_path)
    named = {
        made.old,
        made.main_tip,
        made.branch,
        made.tagged,
        made.indexed,
        made.stashed,
        made.worktree,
    }
    before = site.keys()
    assert named | {made.uncommitted} <= before

    young = repo.prune()
    assert by_action(young, "would delete") == set()
    assert by_reason(young, "too young") == {made.uncommitted}
    assert by_reason(young, "referenced") == named

    dry = repo.prune("--older-than", "0")
    assert by_action(dry, "would delete") == {made.uncommitted}
    assert site.keys() == before
    done = repo.prune("--older-than", "0", "--yes")
    assert by_action(done, "deleted") == by_action(dry, "would delete")
    assert site.keys() == before - {made.uncommitted}
    retrieves_everywhere(repo, tmp_path, "clone-full")

    last = repo.prune("--keep-last", "1", "--older-than", "0", "--yes")
    assert by_action(last, "deleted") == {made.old}
    assert by_reason(last, "referenced") == named - {made.old}
    assert site.keys() == before - {made.uncommitted, made.old}
    # the tip of every branch and tag still retrieves; so do the stash, index and work tree
    clone = tmp_path / "clone-tips"
    git(tmp_path, "clone", "--quiet", str(repo.path), str(clone))
    for ref in ("origin/main", "origin/feature", "origin/elsewhere", "v1"):
        git(clone, "checkout", "--quiet", "--force", "--detach", ref)
        repo.ok("retrieve", cwd=clone)
    git(repo.path, "checkout", "--", "indexed.bin.cfile")
    git(repo.path, "stash", "pop", "--quiet")
    for name in ("indexed.bin", "stashed.bin"):
        (repo.path / name).unlink()
    repo.ok("retrieve", "indexed.bin", "stashed.bin")
    (tmp_path / "other-worktree" / "worktree.bin").unlink()
    repo.ok("retrieve", cwd=tmp_path / "other-worktree")


def test_an_object_written_again_after_listing_is_kept(
    make_git_repo: Callable[..., Path], cavorite: Cavorite, tmp_path: Path
) -> None:
    objects = tmp_path / "objects"
    repo = Repo(make_git_repo("repo"), local_site(objects), cavorite).init()
    key = repo.upload("draft.bin", content("draft"))
    (repo.path / "draft.bin.cfile").unlink()
    # the plan says delete; the object is then written again: a conditional delete keeps it
    store = LocalStore(StoreSettings(str(objects), {}, repo.path))
    listed = dict(store.list_info())[key]
    assert listed is not None
    entry = Entry(key, listed.size, listed.modified, listed.version, Action.DELETE)
    path = objects / key
    path.unlink()
    path.write_bytes(b"written again")
    [result] = execute(store, [entry], 1)
    assert result.action is Action.KEPT and result.reason == "changed since listed"
    assert path.read_bytes() == b"written again"


def test_a_shallow_clone_refuses(
    make_git_repo: Callable[..., Path], cavorite: Cavorite, tmp_path: Path
) -> None:
    objects = tmp_path / "objects"
    repo = Repo(make_git_repo("repo"), local_site(objects), cavorite).init()
    repo.upload("a.bin", content("a"))
    repo.commit("one")
    repo.upload("b.bin", content("b"))
    repo.commit("two")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth", "1", repo.path.as_uri(), str(shallow))
    before = local_site(objects).keys()
    code, out, err = repo.run("prune", "--older-than", "0", "--yes", cwd=shallow)
    assert code == 2, out + err
    assert "shallow" in err and "--unshallow" in err
    assert local_site(objects).keys() == before


def test_a_broken_ref_refuses(
    make_git_repo: Callable[..., Path], cavorite: Cavorite, tmp_path: Path
) -> None:
    repo = Repo(make_git_repo("repo"), local_site(tmp_path / "objects"), cavorite).init()
    repo.upload("a.bin", content("a"))
    repo.commit("one")
    (repo.path / ".git" / "refs" / "heads" / "broken").write_text("not a commit\n")
    code, out, err = repo.run("prune", "--older-than", "0", "--yes")
    assert code == 2, out + err
    assert "ref cannot be read" in err


def test_keep_last_without_a_prefix_needs_consent(
    make_git_repo: Callable[..., Path], cavorite: Cavorite, tmp_path: Path
) -> None:
    repo = Repo(make_git_repo("repo"), local_site(tmp_path / "objects"), cavorite).init()
    repo.upload("a.bin", content("a"))
    repo.commit("one")
    code, _, err = repo.run("prune", "--keep-last", "1")
    assert code == 2 and "--shared-store-ok" in err
    assert repo.prune("--keep-last", "1", "--shared-store-ok")["ok"]


def test_bad_ages_are_refused(
    make_git_repo: Callable[..., Path], cavorite: Cavorite, tmp_path: Path
) -> None:
    repo = Repo(make_git_repo("repo"), local_site(tmp_path / "objects"), cavorite).init()
    for age in ("7x", "-1d", "soon", ""):
        code, _, err = repo.run("prune", "--older-than", age)
        assert code == 2 and "not an age" in err, (age, err)


def versioned(repo: Repo, name: str, data: bytes) -> str:
    """Commit a cfile whose key is ``name@<sha256>``, its object stored through the backend:
    the layout of the versioned key scheme, whichever scheme the configuration writes."""
    sha = hashlib.sha256(data).hexdigest()
    key = f"{name}@{sha}"
    repo.site.put(key, data)
    cfile = {
        "name": key,
        "checksum": sha,
        "date_modified": "2026-01-01T00:00:00Z",
        "size": len(data),
    }
    (repo.path / f"{name}.cfile").write_text(json.dumps(cfile, indent=2) + "\n")
    repo.commit(f"{name} {sha[:8]}")
    return key


def test_a_shared_store_without_prefix_keeps_the_other_repositorys_objects(
    site: Site, make_git_repo: Callable[..., Path], cavorite: Cavorite, tmp_path: Path
) -> None:
    a = Repo(make_git_repo("a"), site, cavorite).init()
    b = Repo(make_git_repo("b"), site, cavorite).init()
    b_committed = b.upload("b.bin", content("b"))
    b.commit("b")
    b_draft = b.upload("b-draft.bin", content("b draft"))
    (b.path / "b-draft.bin.cfile").unlink()
    a_shared = a.upload("shared.bin", content("same content"))
    a.commit("shared")
    assert b.upload("shared.bin", content("same content")) == a_shared
    b.commit("shared too")
    # the same path with other content, under versioned keys
    b_model = versioned(b, "model.bin", content("b model"))
    a_model_old = versioned(a, "model.bin", content("a model v1"))
    a_model_new = versioned(a, "model.bin", content("a model v2"))
    a_draft = a.upload("a-draft.bin", content("a draft"))
    (a.path / "a-draft.bin.cfile").unlink()
    b_keys = {b_committed, b_draft, a_shared, b_model}

    report = a.prune("--older-than", "0", "--yes")
    assert by_action(report, "deleted") == {a_draft}
    assert by_reason(report, "not ours") == {b_committed, b_draft, b_model}
    assert b_keys <= site.keys()

    report = a.prune("--keep-last", "1", "--shared-store-ok", "--older-than", "0", "--yes")
    assert by_action(report, "deleted") == {a_model_old}
    assert b_keys | {a_model_new} <= site.keys()
    retrieves_everywhere(b, tmp_path, "clone-b")
