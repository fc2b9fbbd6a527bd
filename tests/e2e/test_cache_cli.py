"""``cavorite cache`` and ``cavorite cache clean``, run as the installed command."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cavorite_py.cache import Cache
from cavorite_py.cachesettings import CacheSettings
from tests.fixtures.repos import Cavorite
from tests.test_cache import cached


def fill(cache_dir: Path, tmp_path: Path, count: int) -> tuple[Cache, list[str]]:
    """``count`` entries of 1000 bytes, the first the least recently used."""
    cache = Cache(CacheSettings(cache_dir, 0, 0))
    shas = [cached(cache, tmp_path, f"e{i}", 1000, used=1_000_000 + i) for i in range(count)]
    cache.close()
    return cache, shas


def test_cache_shows_where_and_how_full(
    cavorite: Cavorite, cli_env: dict[str, str], tmp_path: Path
) -> None:
    cache_dir = Path(cli_env["XDG_CACHE_HOME"]) / "cavorite"
    fill(cache_dir, tmp_path, 3)
    env = {"CAVORITE_CACHE_MAX_SIZE": "1M"}
    code, out, err = cavorite("cache", "--json", cwd=tmp_path, env=env)
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["dir"], shown["objects"], shown["size"]) == (str(cache_dir), 3, 3000)
    assert (shown["max_size"], shown["over_limit"]) == (1 << 20, False)
    code, out, _ = cavorite("cache", cwd=tmp_path, env=env)
    assert code == 0
    assert f"cache    {cache_dir}" in out
    assert "objects  3 (limit 100000)" in out
    assert "size     2.9 KiB (limit 1.0 MiB)" in out


def test_cache_directory_from_the_user_config(
    cavorite: Cavorite, cli_env: dict[str, str], tmp_path: Path
) -> None:
    config = Path(cli_env["XDG_CONFIG_HOME"]) / "cavorite" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"cache": {"dir": str(tmp_path / "elsewhere")}}))
    code, out, err = cavorite("cache", "--json", cwd=tmp_path)
    assert code == 0, err
    assert json.loads(out)["dir"] == str(tmp_path / "elsewhere")


def test_clean_removes_what_no_longer_fits(
    cavorite: Cavorite, cli_env: dict[str, str], tmp_path: Path
) -> None:
    cache, shas = fill(tmp_path / "c", tmp_path, 4)
    env = {"CAVORITE_CACHE_DIR": str(tmp_path / "c"), "CAVORITE_CACHE_MAX_OBJECTS": "2"}
    code, out, _ = cavorite("cache", cwd=tmp_path, env=env)
    assert "over its limits: run 'cavorite cache clean'" in out
    code, out, _ = cavorite("cache", "clean", "--dry-run", cwd=tmp_path, env=env)
    assert (code, out.strip()) == (0, "would remove 2 objects (2.0 KiB); 2 objects (2.0 KiB) left")
    assert all(cache.has(s) for s in shas)
    code, out, _ = cavorite("cache", "clean", cwd=tmp_path, env=env)
    assert (code, out.strip()) == (0, "removed 2 objects (2.0 KiB); 2 objects (2.0 KiB) left")
    assert [cache.has(s) for s in shas] == [False, False, True, True]


def test_clean_all_keeps_pending_objects(
    cavorite: Cavorite, cli_env: dict[str, str], tmp_path: Path
) -> None:
    cache, shas = fill(tmp_path / "c", tmp_path, 3)
    cache.pending.mark(shas[0], store="s3 s3://bucket", key="a.bin", repo=str(tmp_path))
    env = {"CAVORITE_CACHE_DIR": str(tmp_path / "c")}
    code, out, err = cavorite("cache", "clean", "--all", "--json", cwd=tmp_path, env=env)
    assert code == 0, err
    report = json.loads(out)
    assert (report["removed"], report["objects"], report["kept_pending"]) == (2, 1, 1)
    assert [cache.has(s) for s in shas] == [True, False, False]
    code, out, _ = cavorite("cache", cwd=tmp_path, env=env)
    assert "pending  1 not yet pushed (1000 B, never removed)" in out


def test_bad_limit_is_one_line_and_changes_nothing(
    cavorite: Cavorite, cli_env: dict[str, str], tmp_path: Path
) -> None:
    cache, shas = fill(tmp_path / "c", tmp_path, 2)
    env = {"CAVORITE_CACHE_DIR": str(tmp_path / "c"), "CAVORITE_CACHE_MAX_SIZE": "lots"}
    code, _, err = cavorite("cache", "clean", "--all", cwd=tmp_path, env=env)
    assert code == 2
    assert err.strip() == (
        "cavorite: error: CAVORITE_CACHE_MAX_SIZE must be a number of bytes or like 500M, "
        "10G, 1T; got 'lots'"
    )
    assert all(cache.has(s) for s in shas)


def test_showing_an_absent_cache_creates_nothing(
    cavorite: Cavorite, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {"CAVORITE_CACHE_DIR": str(tmp_path / "none")}
    code, out, _ = cavorite("cache", "--json", cwd=tmp_path, env=env)
    assert (code, json.loads(out)["objects"]) == (0, 0)
    assert not os.path.exists(tmp_path / "none")


def test_pending_lists_and_forgets_only_objects_of_repositories_gone(
    cavorite: Cavorite, cli_env: dict[str, str], tmp_path: Path
) -> None:
    cache, shas = fill(tmp_path / "c", tmp_path, 3)
    live = tmp_path / "live"
    (live / ".cavorite").mkdir(parents=True)
    (live / ".cavorite" / "config").write_text("{}")
    gone = tmp_path / "deleted"
    cache.pending.mark(shas[0], store="s3 s3://b", key="a.bin", repo=str(live), path="a.bin")
    cache.pending.mark(shas[1], store="s3 s3://b", key="b.bin", repo=str(gone), path="d/b.bin")
    # one content pending for both: the live repository's marker keeps protecting it
    cache.pending.mark(shas[2], store="s3 s3://b", key="c.bin", repo=str(gone), path="c.bin")
    cache.pending.mark(shas[2], store="s3 s3://b", key="c2.bin", repo=str(live), path="c2.bin")
    env = {"CAVORITE_CACHE_DIR": str(tmp_path / "c")}

    code, out, _ = cavorite("cache", cwd=tmp_path, env=env)
    assert "2 of them for repositories that no longer exist: see 'cavorite cache pending'" in out
    code, out, _ = cavorite("cache", "pending", cwd=tmp_path, env=env)
    assert code == 0
    assert f"{gone}/d/b.bin (repository gone)  for s3 s3://b" in out
    assert f"{live}/a.bin  for s3 s3://b" in out
    assert out.splitlines()[-1].startswith("4 objects (3.9 KiB) not yet pushed; 2 for ")

    # --yes alone is refused, and forgets nothing
    code, _, err = cavorite("cache", "pending", "--yes", cwd=tmp_path, env=env)
    assert code == 2
    assert err.strip().startswith("cavorite: error: --yes only goes with --forget-gone")
    # dry first: lists what it would forget, forgets nothing
    code, out, _ = cavorite("cache", "pending", "--forget-gone", "--json", cwd=tmp_path, env=env)
    shown = json.loads(out)
    assert shown["dry_run"] is True
    assert sorted(p["key"] for p in shown["pending"]) == ["b.bin", "c.bin"]
    assert len(cache.pending.entries()) == 4

    code, out, _ = cavorite("cache", "pending", "--forget-gone", "--yes", cwd=tmp_path, env=env)
    assert (code, out.splitlines()[-1]) == (
        0,
        "forgot 2 objects (2.0 KiB); 'cavorite cache clean' can now remove them",
    )
    assert sorted(p.key for p in cache.pending.entries()) == ["a.bin", "c2.bin"]
    code, out, _ = cavorite("cache", "clean", "--all", cwd=tmp_path, env=env)
    assert [cache.has(s) for s in shas] == [True, False, True]
