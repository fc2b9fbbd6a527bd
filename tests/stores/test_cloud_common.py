"""What every cloud store promises beyond the contract: lazy SDK imports, a clear message when
an SDK is missing, and descriptions without credentials."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from cavorite_py.stores.base import Store

CLOUD = [("s3", "boto3"), ("gcs", "google"), ("azure", "azure"), ("fsspec", "fsspec")]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_registry_imports_no_sdk() -> None:
    result = run_python(
        """
        import sys
        from cavorite_py.stores import registry
        registry.available()
        print(sorted(m for m in sys.modules if m.split(".")[0] in
                     {"boto3", "botocore", "google", "azure", "fsspec"}))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(("name", "sdk"), CLOUD)
def test_a_missing_sdk_names_the_extra(name: str, sdk: str) -> None:
    result = run_python(
        f"""
        import sys
        class Block:
            def find_spec(self, fullname, path=None, target=None):
                if fullname == {sdk!r} or fullname.startswith({sdk!r} + "."):
                    raise ModuleNotFoundError(f"No module named {{fullname!r}}", name=fullname)
        sys.meta_path.insert(0, Block())
        from cavorite_py.errors import ConfigError
        from cavorite_py.stores import registry
        try:
            registry.load({name!r})
        except ConfigError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert f'pip install "cavorite-py[{name}]"' in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["s3", "gcs", "azure", "fsspec"])
def test_cloud_stores_describe_themselves_and_want_parallel_jobs(
    name: str, request: pytest.FixtureRequest
) -> None:
    store: Store = request.getfixturevalue(f"{name}_store")
    description = store.describe()
    assert description.split("://")[0] in {"http", "s3", "gs", "az", "memory"}
    for secret in ("AccountKey", "Eby8vdM02", "testing", "sig="):
        assert secret not in description
        assert secret not in repr(store)
    assert type(store).default_jobs >= 8
