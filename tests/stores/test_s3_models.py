"""botocore's data kept parsed in the user's cache (``cavorite_py.stores._s3_models``): the same
data as botocore's own loader gives, parsed once, parsed again whenever its source changes, and
botocore's own loading whenever the cache cannot be used."""

from __future__ import annotations

import gzip
import json
import marshal
import os
from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest
from botocore.loaders import Loader, create_loader

from cavorite_py.stores import _s3_models
from cavorite_py.stores._s3_models import CachingFileLoader, CachingLoader

MODEL: dict[str, Any] = {
    "version": "2.0",
    "metadata": {
        "apiVersion": "2020-01-01",
        "endpointPrefix": "made-up",
        "protocol": "rest-json",
        "serviceId": "Made Up",
        "signatureVersion": "v4",
    },
    "operations": {},
    "shapes": {},
}


@pytest.fixture
def kept(tmp_path: Path) -> Path:
    """The directory the parsed files are kept in."""
    return tmp_path / "kept"


def _loader(kept: Path, *paths: Path, builtin: bool = True) -> CachingLoader:
    search = [str(path) for path in paths] + ([Loader.BUILTIN_DATA_PATH] if builtin else [])
    return CachingLoader(
        extra_search_paths=search,
        file_loader=CachingFileLoader(str(kept)),
        include_default_search_paths=False,
    )


def _botocore(*paths: Path, builtin: bool = True) -> Loader:
    search = [str(path) for path in paths] + ([Loader.BUILTIN_DATA_PATH] if builtin else [])
    return Loader(extra_search_paths=search, include_default_search_paths=False)


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parsed: list[str] = []
    real = _s3_models._parse

    def counting(source: str) -> dict[str, Any]:
        parsed.append(source)
        return real(source)

    monkeypatch.setattr(_s3_models, "_parse", counting)
    return parsed


def _model_dir(root: Path, service: str = "madeup", version: str = "2020-01-01") -> Path:
    folder = root / service / version
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_data_is_botocores_in_its_order(kept: Path) -> None:
    ours, theirs = _loader(kept), _botocore()
    for name in ("endpoints", "sdk-default-configuration", "_retry", "partitions"):
        assert json.dumps(ours.load_data(name)) == json.dumps(theirs.load_data(name))
    for kind in ("service-2", "endpoint-rule-set-1", "paginators-1", "waiters-2"):
        mine = ours.load_service_model("s3", kind)
        assert json.dumps(mine) == json.dumps(theirs.load_service_model("s3", kind))
    assert ours.list_available_services("service-2") == theirs.list_available_services("service-2")


def test_each_file_is_parsed_once(kept: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _count_parses(monkeypatch)
    first = _loader(kept).load_service_model("s3", "service-2")
    assert [Path(p).name for p in parsed] == ["service-2.json.gz", "service-2.sdk-extras.json"]
    again = _loader(kept).load_service_model("s3", "service-2")
    assert len(parsed) == 2
    assert again == first
    assert all(p.suffix == ".marshal" for p in kept.iterdir())


def test_the_listing_of_botocores_data_is_kept(kept: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed: list[str] = []
    real = CachingLoader._listing

    def counting(self: CachingLoader, path: str, type_name: str) -> list[str]:
        listed.append(path)
        return real(self, path, type_name)

    monkeypatch.setattr(CachingLoader, "_listing", counting)
    assert "s3" in _loader(kept).list_available_services("service-2")
    assert "s3" in _loader(kept).list_available_services("service-2")
    assert listed == [Loader.BUILTIN_DATA_PATH]


def test_a_client_made_through_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _count_parses(monkeypatch)
    for _ in range(2):
        session = botocore.session.get_session()
        _s3_models.use_cache(session)
        client = session.create_client(
            "s3",
            region_name="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            aws_access_key_id="a",
            aws_secret_access_key="b",
        )
        assert client.meta.service_model.service_name == "s3"
        assert client.can_paginate("list_objects_v2")
        client.close()
    assert len(parsed) == len(set(parsed))
    assert Path(_s3_models.directory()).parent.name == "botocore"
    assert Path(_s3_models.directory()).name == botocore.__version__


def test_a_changed_source_is_parsed_again(kept: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    source = _model_dir(models) / "service-2.json"
    source.write_text(json.dumps(MODEL))
    assert _loader(kept, models).load_service_model("madeup", "service-2") == MODEL
    changed = {**MODEL, "operations": {"Op": {"name": "Op", "http": {}}}}
    source.write_text(json.dumps(changed))
    assert _loader(kept, models).load_service_model("madeup", "service-2") == changed
    os.utime(source, ns=(1, 1))
    assert _loader(kept, models).load_service_model("madeup", "service-2") == changed


def test_new_services_and_versions_outside_botocore_are_seen(kept: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    (_model_dir(models) / "service-2.json").write_text(json.dumps(MODEL))
    assert "madeup" in _loader(kept, models).list_available_services("service-2")
    newer = {**MODEL, "metadata": {**MODEL["metadata"], "apiVersion": "2024-01-01"}}
    (_model_dir(models, version="2024-01-01") / "service-2.json.gz").write_bytes(
        gzip.compress(json.dumps(newer).encode())
    )
    (_model_dir(models, service="other") / "service-2.json").write_text(json.dumps(MODEL))
    loader = _loader(kept, models)
    assert {"madeup", "other", "s3"} <= set(loader.list_available_services("service-2"))
    assert loader.load_service_model("madeup", "service-2") == newer


def test_botocores_own_listing_follows_its_directory(kept: Path, tmp_path: Path) -> None:
    builtin = tmp_path / "data"
    (_model_dir(builtin) / "service-2.json").write_text(json.dumps(MODEL))
    loader = _loader(kept, builtin, builtin=False)
    loader.BUILTIN_DATA_PATH = str(builtin)
    assert loader.list_available_services("service-2") == ["madeup"]
    (_model_dir(builtin, service="added") / "service-2.json").write_text(json.dumps(MODEL))
    loader = _loader(kept, builtin, builtin=False)
    loader.BUILTIN_DATA_PATH = str(builtin)
    assert loader.list_available_services("service-2") == ["added", "madeup"]


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00garbage", b"\xfb" * 9, marshal.dumps([1, 2]), b"{"],
    ids=["empty", "garbage", "bad-marshal", "a-list", "truncated"],
)
def test_a_kept_file_that_cannot_be_used_is_made_again(
    content: bytes, kept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _botocore().load_service_model("s3", "endpoint-rule-set-1")
    _loader(kept).load_service_model("s3", "endpoint-rule-set-1")
    for path in kept.iterdir():
        path.write_bytes(content)
    parsed = _count_parses(monkeypatch)
    assert _loader(kept).load_service_model("s3", "endpoint-rule-set-1") == expected
    assert [Path(p).name for p in parsed] == ["endpoint-rule-set-1.json.gz"]
    assert all(marshal.loads(path.read_bytes()) for path in kept.iterdir())


def test_without_a_writable_cache_the_data_still_loads(kept: Path) -> None:
    kept.write_text("a file where the directory would be\n")
    model = _loader(kept).load_service_model("s3", "service-2")
    assert model == _botocore().load_service_model("s3", "service-2")
    assert "s3" in _loader(kept).list_available_services("service-2")


def test_a_source_the_cache_cannot_parse_is_left_to_botocore(kept: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    (_model_dir(models) / "service-2.json").write_text("[1, 2]")
    assert _loader(kept, models).load_service_model("madeup", "service-2") == [1, 2]
    (_model_dir(models) / "service-2.json").write_text("{not json")
    with pytest.raises(ValueError):
        _botocore(models).load_service_model("madeup", "service-2")
    with pytest.raises(ValueError):
        _loader(kept, models).load_service_model("madeup", "service-2")


def test_aws_data_path_is_searched_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    (_model_dir(models) / "service-2.json").write_text(json.dumps(MODEL))
    monkeypatch.setenv("AWS_DATA_PATH", str(models))
    session = botocore.session.get_session()
    _s3_models.use_cache(session)
    loader = session.get_component("data_loader")
    assert isinstance(loader, CachingLoader)
    assert loader.search_paths == create_loader(str(models)).search_paths
    assert session.get_service_model("madeup").metadata["endpointPrefix"] == "made-up"


def test_other_botocore_versions_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    root = Path(_s3_models.directory()).parent
    old = root / "0.0.1"
    old.mkdir(parents=True, exist_ok=True)
    (old / "x.marshal").write_bytes(marshal.dumps({}))
    monkeypatch.setattr(botocore, "__version__", "0.0.2-test")
    _s3_models.use_cache(botocore.session.get_session())
    assert [p.name for p in root.iterdir()] == []
    session = botocore.session.get_session()
    _s3_models.use_cache(session)
    session.get_component("data_loader").load_data("_retry")
    assert [p.name for p in root.iterdir()] == ["0.0.2-test"]
