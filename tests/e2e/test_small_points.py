"""Help text, command order, messages and JSON shapes that got in a new user's way."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.support import binary, json_report, write
from tests.e2e.test_global_options import _down_s3_repo
from tests.fixtures.repos import Cavorite, git


def _commands_panel(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "Commands" in line)
    return lines[start + 1 :]


def test_help_is_wrapped_by_paragraph_and_verbose_shows_no_int(
    tmp_path: Path, cavorite: Cavorite
) -> None:
    result = cavorite("-h", cwd=tmp_path)
    assert result.code == 0
    assert "<int>" not in result.stdout and "[default: 0]" not in result.stdout
    # at 200 columns every command's help fits its line: no break in mid-sentence
    assert "Writes your own config, never a repository's." in result.stdout
    assert "malformed cfiles, and cfiles whose object is not in the store." in result.stdout


def test_commands_are_listed_in_the_order_they_are_used(tmp_path: Path, cavorite: Cavorite) -> None:
    panel = _commands_panel(cavorite("-h", cwd=tmp_path).stdout)
    names = [
        line.strip("│ ").split()[0] for line in panel if line.startswith("│ ") and line[2] != " "
    ]
    order = ["init", "upload", "retrieve", "status", "verify", "check", "install-hook"]
    assert [n for n in names if n in order] == order
    assert names.index("stores") > names.index("install-hook")


def test_store_type_completion_offers_store_names(tmp_path: Path, cavorite: Cavorite) -> None:
    env = {
        "_CAVORITE_COMPLETE": "complete_bash",
        "COMP_WORDS": "cavorite init --store-type ",
        "COMP_CWORD": "3",
    }
    result = cavorite(cwd=tmp_path, env=env)
    assert {"s3", "gcs", "azure", "localstore"} <= set(result.stdout.split()), result


def test_verify_remote_with_the_store_down_names_each_file(
    tmp_path: Path, cavorite: Cavorite
) -> None:
    root, env = _down_s3_repo(tmp_path / "work")
    write(root, "sub/bad.bin.cfile", b"{not json")
    result = cavorite("verify", "--remote", cwd=root / "sub", env=env)
    assert result.code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("cavorite: error:")]
    for line in errors:
        assert any(name in line for name in ("gone.bin", "also.bin", "bad.bin.cfile")), line
    # the malformed cfile is named as every other path is: relative to the current directory
    assert "cavorite: error: bad.bin.cfile: not valid JSON" in errors[0] or any(
        line.startswith("cavorite: error: bad.bin.cfile: not valid JSON") for line in errors
    )
    assert str(tmp_path) not in result.stderr


def test_check_with_nothing_staged_says_so(cavorite_repo: Path, cavorite: Cavorite) -> None:
    result = cavorite("check", "--staged", cwd=cavorite_repo)
    assert result.code == 0
    assert result.stderr.strip() == "cavorite: nothing to check (nothing staged)"


def test_check_json_carries_the_fix(cavorite_repo: Path, cavorite: Cavorite) -> None:
    write(cavorite_repo, "x.bin", binary("x"))
    git(cavorite_repo, "add", "x.bin")
    text = cavorite("check", "--staged", cwd=cavorite_repo)
    fix = text.stderr.split("fix: ", 1)[1].splitlines()[0].strip()
    doc = json_report(cavorite("check", "--staged", "--json", cwd=cavorite_repo), "check")
    [refused] = doc["files"]
    assert refused["detail"] == fix


def test_stores_json_is_a_document(tmp_path: Path, cavorite: Cavorite) -> None:
    doc = json.loads(cavorite("stores", "--json", cwd=tmp_path).stdout)
    assert doc["command"] == "stores" and doc["ok"] is True
    assert {"s3", "localstore"} <= {entry["name"] for entry in doc["stores"]}


def test_install_hook_outside_git_is_one_clear_line(tmp_path: Path, cavorite: Cavorite) -> None:
    work = tmp_path / "plain"
    work.mkdir()
    assert cavorite("init", "--backend-address", tmp_path / "objects", cwd=work).code == 0
    result = cavorite("install-hook", cwd=work)
    assert result.code == 2
    [line] = result.stderr.splitlines()
    assert line.endswith("not inside a git work tree; run this in a git repository"), line
