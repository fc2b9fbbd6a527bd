"""A store cannot send more than the cfile says, and a large download stops at Ctrl-C.

Through the installed command: moto (behind the loopback proxy of ``faultproxy.py``, which
counts the requests and can slow the answers down) serving an object larger than its cfile's
``size``, a local store holding the same, or holding what is not a regular file (a FIFO, a link
to ``/dev/zero``, a link to a file outside the store). Expected: one clear error line, no file
under the artifact's name, no temporary file left, nothing read past the cfile's size, and an
answer within seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.emulators import S3Emulator, cli_cloud_env
from tests.fixtures.repos import Cavorite, cavorite_executable

from .faultproxy import Fault, FaultProxy
from .support import EXIT_FAILED, assert_clean_failure, temp_files

pytestmark = pytest.mark.timeout(120)

MIB = 1 << 20
HEX = "ab" * 32


def write_cfile(repo: Path, name: str, size: int, checksum: str = HEX) -> None:
    cfile = {
        "name": name,
        "checksum": checksum,
        "size": size,
        "date_modified": "2024-01-02T03:04:05.123456789Z",
    }
    (repo / f"{name}.cfile").write_text(json.dumps(cfile))


# ------------------------------------------------------------------------------------- S3


@dataclass
class S3Repo:
    root: Path
    proxy: FaultProxy
    emulator: S3Emulator
    bucket: str
    env: dict[str, str]

    def put_object(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` directly, without cavorite and without the proxy."""
        client = self.emulator.client()
        try:
            client.put_object(Bucket=self.bucket, Key=key, Body=data)
        finally:
            client.close()

    def gets(self, key: str) -> int:
        return len(self.proxy.requests("GET", rf"/{key}(\?|$)"))


@pytest.fixture
def s3_repo(git_repo: Path, s3_emulator: S3Emulator) -> Iterator[S3Repo]:
    """A repository whose store is a moto bucket reached through the proxy; objects of more
    than 256 KiB are downloaded as ranged GETs, two at a time."""
    port = int(s3_emulator.endpoint.rsplit(":", 1)[1])
    bucket = s3_emulator.new_bucket()
    with FaultProxy(port, timeout=20) as proxy:
        options: dict[str, Any] = {
            "backend_address": f"{proxy.endpoint}/{bucket}",
            "download_chunksize": 256 << 10,
            "download_threshold": 256 << 10,
            "max_concurrency": 2,
            "multipart_threshold": 64 * MIB,
            "metadata_file_extension": "cfile",
        }
        (git_repo / ".cavorite").mkdir()
        config = {"store_type": "s3", "options": options}
        (git_repo / ".cavorite" / "config").write_text(json.dumps(config))
        env = {**cli_cloud_env(s3_emulator), "CAVORITE_ALLOW_ENDPOINT": proxy.endpoint}
        yield S3Repo(git_repo, proxy, s3_emulator, bucket, env)


@pytest.mark.emulator
def test_s3_object_larger_than_its_cfile_is_refused_before_its_bytes(
    s3_repo: S3Repo, cavorite: Cavorite
) -> None:
    """1 MiB stored under a cfile of 10 bytes: the first answer's size is refused, so no range
    is ever asked for, and nothing is written."""
    s3_repo.put_object("big.bin", os.urandom(MIB))
    write_cfile(s3_repo.root, "big.bin", 10)
    started = time.monotonic()
    result = cavorite("retrieve", cwd=s3_repo.root, env=s3_repo.env, timeout=60)
    assert time.monotonic() - started < 20
    assert_clean_failure(
        result, EXIT_FAILED, r"big\.bin: the store holds 1048576 bytes where its cfile records 10"
    )
    assert s3_repo.gets("big.bin") == 1
    assert not (s3_repo.root / "big.bin").exists()
    assert temp_files(s3_repo.root) == []


@pytest.mark.emulator
def test_ctrl_c_stops_a_large_s3_download_at_once(
    s3_repo: S3Repo, cavorite: Cavorite, tmp_path: Path
) -> None:
    """SIGINT in the middle of a slow download of many ranges: exit 130 within a few seconds,
    no file under the artifact's name, the partial one deleted, no range asked for after."""
    data = os.urandom(8 * MIB)
    (s3_repo.root / "big.bin").write_bytes(data)
    upload = cavorite("upload", "big.bin", cwd=s3_repo.root, env=s3_repo.env)
    assert upload.code == 0, upload.stderr
    (s3_repo.root / "big.bin").unlink()
    # 64 KiB every 50 ms per range: about 16 s for the whole object
    s3_repo.proxy.add(Fault("slow", method="GET", path=r"/big\.bin", seconds=0.05, times=1000))
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
        proc = subprocess.Popen(
            [cavorite_executable(), "retrieve"],
            cwd=s3_repo.root,
            env=cavorite.env | s3_repo.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        try:
            _wait_for_partial(s3_repo.root, MIB, proc)
            proc.send_signal(signal.SIGINT)
            stopped = time.monotonic()
            code = proc.wait(timeout=30)
            took = time.monotonic() - stopped
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    errors = (tmp_path / "err").read_text()
    assert code == 130, errors
    assert took < 3, f"{took:.1f} s after Ctrl-C"
    assert "Traceback" not in errors
    assert not (s3_repo.root / "big.bin").exists()
    assert temp_files(s3_repo.root) == []
    asked = s3_repo.gets("big.bin")
    time.sleep(0.5)
    assert s3_repo.gets("big.bin") == asked < 1 + 32


def _wait_for_partial(root: Path, least: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while not any(_size(p) >= least for p in temp_files(root)):
        assert proc.poll() is None, "the command ended before its download was under way"
        assert time.monotonic() < deadline, "no partial download after 30 s"
        time.sleep(0.01)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


# ----------------------------------------------------------------------------- local store


def test_local_object_larger_than_its_cfile_is_refused(
    repo: Path, local_objects: Path, cavorite: Cavorite
) -> None:
    (local_objects / "big.bin").write_bytes(os.urandom(MIB))
    write_cfile(repo, "big.bin", 10)
    result = cavorite("retrieve", "big.bin", cwd=repo, timeout=30)
    assert_clean_failure(
        result, EXIT_FAILED, r"big\.bin: the store holds 1048576 bytes where its cfile records 10"
    )
    assert not (repo / "big.bin").exists()
    assert temp_files(repo) == []


@pytest.mark.parametrize(
    ("kind", "what"),
    [("fifo", "a FIFO"), ("dev-zero", "a symbolic link"), ("outside", "a symbolic link")],
)
def test_local_store_reads_only_regular_files(
    repo: Path, local_objects: Path, cavorite: Cavorite, tmp_path: Path, kind: str, what: str
) -> None:
    """Never blocked by a FIFO, never reading a device forever, never led outside the store
    by a link: refused at once."""
    object_path = local_objects / "odd.bin"
    if kind == "fifo":
        os.mkfifo(object_path)
    elif kind == "dev-zero":
        object_path.symlink_to("/dev/zero")
    else:
        secret = tmp_path / "secret"
        secret.write_bytes(b"not for the store")
        object_path.symlink_to(secret)
    write_cfile(repo, "odd.bin", 17)
    result = cavorite("retrieve", "odd.bin", cwd=repo, timeout=20)
    assert_clean_failure(
        result, EXIT_FAILED, rf"odd\.bin.*object 'odd\.bin' in .* is {what}; a local store "
    )
    assert not (repo / "odd.bin").exists()
    assert temp_files(repo) == []
