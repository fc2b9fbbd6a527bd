"""Entry-point discovery without ``importlib.metadata``: the registry reads the installed
distributions' ``entry_points.txt`` itself and finds what ``importlib.metadata`` finds, asking it
only for what the scan cannot see; a command that opens the default store never imports it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from cavorite_localstore import LocalStore

from cavorite_py.errors import ConfigError
from cavorite_py.stores import registry
from tests.fixtures.repos import Cavorite

GROUP = registry.ENTRY_POINT_GROUP


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    registry.refresh()
    yield
    registry.refresh()


def from_importlib() -> dict[str, tuple[str, str]]:
    """What ``importlib.metadata`` reports: first registration of each name wins."""
    found: dict[str, tuple[str, str]] = {}
    for ep in entry_points(group=GROUP):
        assert ep.dist is not None
        # not ep.dist.name: it warns on Python 3.13 for a distribution without a Name header
        name, version = (ep.dist.metadata.get_all(h) or [None] for h in ("Name", "Version"))
        found.setdefault(ep.name, (ep.value, f"{name[0]} {version[0]}"))
    return found


def scanned() -> dict[str, tuple[str, str]]:
    return {name: (e.target, e.origin) for name, e in registry._scanned().items()}


def dist(site: Path, dirname: str, entry_points_txt: str | bytes, name: str = "") -> Path:
    """A hand-made ``*.dist-info`` directory in ``site``; METADATA names it when ``name``."""
    info = site / dirname
    info.mkdir(parents=True)
    data = entry_points_txt.encode() if isinstance(entry_points_txt, str) else entry_points_txt
    (info / "entry_points.txt").write_bytes(data)
    if name:
        version = dirname.rpartition(".")[0].partition("-")[2]
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nName: not a header\n"
        )
    return info


def on_path(monkeypatch: pytest.MonkeyPatch, *sites: Path) -> None:
    monkeypatch.setattr(sys, "path", [*map(str, sites), *sys.path])


def test_the_scan_finds_what_importlib_metadata_finds() -> None:
    found = scanned()
    assert found == from_importlib()
    assert found["localstore"] == ("cavorite_localstore:LocalStore", "cavorite-localstore 0.1.0")


def test_an_earlier_distribution_shadows_a_later_one_of_the_same_normalised_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, later = tmp_path / "first", tmp_path / "later"
    dist(first, "shadow_dist-1.0.dist-info", f"[{GROUP}]\nshadowed = one:Store\n", "Shadow-Dist")
    dist(
        later,
        "Shadow.Dist-2.0.dist-info",
        f"[{GROUP}]\nshadowed = two:Store\nhidden = two:Other\n",
        "shadow.dist",
    )
    on_path(monkeypatch, first, later, tmp_path / "missing", tmp_path / "first" / "nothing")

    found = scanned()
    assert found["shadowed"] == ("one:Store", "Shadow-Dist 1.0")
    assert "hidden" not in found
    assert found == from_importlib()


def test_the_first_registration_of_a_name_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, later = tmp_path / "first", tmp_path / "later"
    text = (
        f"# a comment\n[other.group]\ndup = not:This\n\n[{GROUP}]\n  dup = a:First  \n"
        "dup = a:Again\n"
    )
    dist(first, "first_dist-1.0.dist-info", text, "first-dist")
    dist(later, "later_dist-3.1.dist-info", f"[{GROUP}]\ndup = b:Later\nmore = b:More\n")
    on_path(monkeypatch, first, later)

    found = scanned()
    assert found["dup"] == ("a:First", "first-dist 1.0")
    assert found["more"] == ("b:More", "later_dist 3.1")  # no METADATA: the directory's name
    assert {name: target for name, (target, _) in found.items()} == {
        name: target for name, (target, _) in from_importlib().items()
    }


def test_an_entry_point_with_extras_is_found_and_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist(
        tmp_path,
        "extras_dist-0.2.dist-info",
        f"[{GROUP}]\nwithextras = cavorite_localstore : LocalStore [fast, small]\n",
        "extras-dist",
    )
    on_path(monkeypatch, tmp_path)

    found = scanned()
    assert found["withextras"] == (
        "cavorite_localstore : LocalStore [fast, small]",
        "extras-dist 0.2",
    )
    assert found == from_importlib()
    assert registry.load("withextras") is LocalStore


def test_a_malformed_entry_points_file_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist(tmp_path, "undecodable-1.0.dist-info", b"\xff\xfe[" + GROUP.encode() + b"]\nx = y:Z\n")
    dist(
        tmp_path,
        "no_equals-1.0.dist-info",
        f"[{GROUP}]\njust words\nok = cavorite_localstore:LocalStore\n",
    )
    (dist(tmp_path, "a_directory-1.0.dist-info", "") / "entry_points.txt").unlink()
    (tmp_path / "a_directory-1.0.dist-info" / "entry_points.txt").mkdir()
    (tmp_path / "not_a_directory-1.0.dist-info").write_text("[cavorite_py.stores]\nf = g:H\n")
    dist(tmp_path, "bad_metadata-1.0.dist-info", f"[{GROUP}]\nbadmeta = m:S\n")
    (tmp_path / "bad_metadata-1.0.dist-info" / "METADATA").write_bytes(b"Name: \xff\n")
    on_path(monkeypatch, tmp_path)

    found = scanned()
    assert found["ok"] == ("cavorite_localstore:LocalStore", "no_equals 1.0")
    assert found["badmeta"] == ("m:S", "bad_metadata 1.0")
    assert {"x", "f"}.isdisjoint(found)
    assert registry.load("ok") is LocalStore
    assert registry.load("localstore") is LocalStore
    assert {"ok", "localstore", "s3"} <= set(registry.available())
    with pytest.raises(ConfigError, match="unknown store type 'absent'"):
        registry.load("absent")


def test_what_the_scan_cannot_see_comes_from_importlib_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "stores.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(
            "zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\nVersion: 1.0\n"
        )
        zf.writestr(
            "zipped-1.0.dist-info/entry_points.txt",
            f"[{GROUP}]\nzipstore = cavorite_localstore:LocalStore\n",
        )
    on_path(monkeypatch, archive)

    assert "zipstore" not in registry._scanned()
    assert registry.load("zipstore") is LocalStore
    entry = registry.available()["zipstore"]
    assert (entry.target, entry.origin) == ("cavorite_localstore:LocalStore", "zipped 1.0")


def test_a_plugin_may_not_take_a_built_in_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist(tmp_path, "squatter-1.0.dist-info", f"[{GROUP}]\ns3 = squat:Store\n", "squatter")
    on_path(monkeypatch, tmp_path)

    with pytest.raises(
        ConfigError, match=r"store plugin from squatter 1\.0 registers the built-in"
    ):
        registry.load("s3")
    assert registry.available()["s3"].origin == "built-in"


CHECK = """
import json, sys
from cavorite_py.__main__ import main
codes = []
for command in sys.argv[1:]:
    try:
        main([command])
    except SystemExit as exc:
        codes.append(exc.code)
print(json.dumps({"codes": codes, "metadata": "importlib.metadata" in sys.modules,
                  "localstore": "cavorite_localstore" in sys.modules}))
"""


def run_check(repo: Path, env: dict[str, str], *commands: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHECK), *commands],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_commands_do_not_import_importlib_metadata(
    git_repo: Path, cavorite: Cavorite, cli_env: dict[str, str]
) -> None:
    init = cavorite("init", cwd=git_repo)
    assert init.code == 0, init.stderr
    assert '"localstore"' in (git_repo / ".cavorite" / "config").read_text()

    empty = run_check(git_repo, cli_env, "retrieve", "status")
    assert empty == {"codes": [0, 0], "metadata": False, "localstore": False}

    (git_repo / "big.bin").write_bytes(b"\0" * 1000)
    uploaded = cavorite("upload", "big.bin", cwd=git_repo)
    assert uploaded.code == 0, uploaded.stderr
    (git_repo / "big.bin").unlink()
    retrieved = run_check(git_repo, cli_env, "retrieve")  # opens the default store
    assert retrieved == {"codes": [0], "metadata": False, "localstore": True}
    assert (git_repo / "big.bin").read_bytes() == b"\0" * 1000
