"""Network faults between the real boto3 SDK and the real moto server, injected by our loopback
proxy (``faultproxy.py``): resets in the middle of an upload or a download, bursts of 500 and
503 answers, a stalled server, truncated and corrupted bodies.

Expected: a transient fault is retried (the proxy sees the request again) and the run succeeds;
a lasting one ends in a clear one-line error in bounded time. Never a cfile for an object that
was not stored, never a partial or corrupt file under an artifact's name, and the other files
of the same run are unaffected. The store is checked directly, bypassing the proxy.

moto does not check the checksums the SDK sends with an upload (S3 does: the signed
``X-Amz-Content-SHA256``, ``x-amz-checksum-*``), so a body corrupted on its way up is stored;
the tests show that retrieve then refuses it rather than writing it under the artifact's name.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

from cavorite_py.config import Config
from cavorite_py.repo import Repo
from cavorite_py.results import Outcome, Report
from tests.fixtures.consent import approve_for_test
from tests.fixtures.emulators import S3Emulator, cli_cloud_env, isolated_env
from tests.fixtures.repos import Cavorite

from .faultproxy import Fault, FaultProxy
from .support import error_lines, temp_files

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(180)]

MIB = 1 << 20
OPTIONS: dict[str, Any] = {
    "multipart_threshold": MIB,
    "multipart_chunksize": 5 * MIB,
    "max_concurrency": 2,
    "connect_timeout": 2,
    "read_timeout": 1,
}
FILES = {"small.bin": 300_000, "big.bin": 7 * MIB, "other.bin": 200_000}
"""small: one PutObject and one GetObject; big: two parts up, and one GetObject down as well
(below ``download_threshold``, 256 MiB), unless a test lowers that to make it ranged GETs."""


@dataclass
class World:
    root: Path
    proxy: FaultProxy
    emulator: S3Emulator
    bucket: str
    data: dict[str, bytes]
    options: dict[str, Any] = field(default_factory=dict)
    """more options of the store, over ``OPTIONS``"""

    def repo(self) -> Repo:
        options = {
            "backend_address": f"{self.proxy.endpoint}/{self.bucket}",
            **OPTIONS,
            **self.options,
        }
        return Repo(self.root, Config("s3", options))

    def upload(self, *names: str) -> Report:
        with self.repo() as repo:
            return repo.upload(list(names or self.data), update_gitignore=False, cwd=self.root)

    def retrieve(self, *names: str) -> Report:
        with self.repo() as repo:
            return repo.retrieve([f"{n}.cfile" for n in names or self.data], cwd=self.root)

    def stored(self, name: str) -> bytes | None:
        """The object's bytes as moto holds them: read directly (not through the proxy), and
        without the SDK's checksum validation, so that corrupted bytes are seen as they are."""
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.emulator.endpoint,
            region_name=self.emulator.region,
            aws_access_key_id=self.emulator.access_key,
            aws_secret_access_key=self.emulator.secret_key,
            config=BotoConfig(response_checksum_validation="when_required"),
        )
        try:
            body = client.get_object(Bucket=self.bucket, Key=name)["Body"].read()
        except client.exceptions.NoSuchKey:
            return None
        finally:
            client.close()
        return bytes(body)

    def pending_multipart(self) -> list[str]:
        client = self.emulator.client()
        try:
            uploads = client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
        finally:
            client.close()
        return [u["Key"] for u in uploads]

    def cfile(self, name: str) -> dict[str, Any] | None:
        path = self.root / f"{name}.cfile"
        return json.loads(path.read_text()) if path.exists() else None

    def remove_artifacts(self) -> None:
        for name in self.data:
            (self.root / name).unlink()


@pytest.fixture
def world(
    s3_emulator: S3Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    isolated_env(monkeypatch, s3_emulator)
    root = tmp_path / "work"
    root.mkdir()
    data = {name: os.urandom(size) for name, size in FILES.items()}
    for name, content in data.items():
        (root / name).write_bytes(content)
    port = int(s3_emulator.endpoint.rsplit(":", 1)[1])
    with FaultProxy(port, timeout=20) as proxy:
        # the proxy stands in for the emulator: approved as the emulator is
        approve_for_test(monkeypatch, proxy.endpoint)
        yield World(root, proxy, s3_emulator, s3_emulator.new_bucket(), data)


def outcomes(report: Report) -> dict[str, Outcome]:
    return {r.path.name: r.outcome for r in report.results}


def assert_all_stored(world: World) -> None:
    for name, content in world.data.items():
        assert world.stored(name) == content, name
        cfile = world.cfile(name)
        assert cfile is not None
        assert cfile["checksum"] == hashlib.sha256(content).hexdigest()


def assert_all_retrieved(world: World, report: Report) -> None:
    assert report.ok, [str(r.error) for r in report.failed]
    for name, content in world.data.items():
        assert (world.root / name).read_bytes() == content
    assert temp_files(world.root) == []


def uploaded(world: World) -> None:
    report = world.upload()
    assert report.ok, [str(r.error) for r in report.failed]
    world.remove_artifacts()


def name_of(fault: Fault) -> str:
    """The file a fault is aimed at."""
    return "small.bin" if "small" in str(fault.path) else "big.bin"


def one_line_error(report: Report, name: str) -> str:
    [failed] = [r for r in report.results if r.failed]
    assert failed.path.name == name
    message = str(failed.error)
    assert "\n" not in message and name in message
    return message


# --------------------------------------------------------------------- transient: retried


@pytest.mark.parametrize(
    "fault",
    [
        Fault("reset_request", method="PUT", path=r"/small\.bin$", at=100_000),
        Fault("reset_request", method="PUT", path=r"partNumber=2", at=500_000),
        Fault("reset_request", method="PUT", path=r"partNumber=1", at=4 * MIB, times=2),
        Fault("status", method="PUT", path=r"/small\.bin$", status=503, times=2),
        Fault("status", method="PUT", path=r"partNumber=1", status=500, times=2),
        Fault("status", method="POST", path=r"uploadId", status=503),
        Fault("status", method="HEAD", status=503, times=2),
        Fault("stall", method="PUT", path=r"/small\.bin$", seconds=5),
        Fault("stall", method="PUT", path=r"partNumber=1", seconds=5),
    ],
    ids=[
        "reset-put",
        "reset-part",
        "reset-part-twice",
        "503-put",
        "500-part",
        "503-complete",
        "503-head",
        "stall-put",
        "stall-part",
    ],
)
def test_a_transient_fault_during_upload_is_retried(world: World, fault: Fault) -> None:
    fault = world.proxy.add(fault)
    report = world.upload()
    assert fault.applied == fault.times
    assert report.ok, [str(r.error) for r in report.failed]
    assert set(outcomes(report).values()) == {Outcome.UPLOADED}
    assert_all_stored(world)
    assert world.pending_multipart() == []


@pytest.mark.parametrize(
    "fault",
    [
        Fault("reset_response", method="GET", path=r"/small\.bin$", at=100_000),
        Fault("reset_response", method="GET", path=r"/big\.bin$", at=3 * MIB),
        Fault("reset_response", method="GET", path=r"/big\.bin$", at=10, times=3),
        Fault("status", method="GET", path=r"/small\.bin$", status=503, times=2),
        Fault("status", method="GET", path=r"/big\.bin$", status=500, times=2),
        Fault("truncate", method="GET", path=r"/big\.bin$", at=1000, times=2),
        Fault("stall", method="GET", path=r"/small\.bin$", seconds=5),
        Fault("stall", method="GET", path=r"/big\.bin$", seconds=5, times=2),
    ],
    ids=[
        "reset-get",
        "reset-get-big",
        "reset-get-big-3x",
        "503-get",
        "500-get-big",
        "truncate-get-big",
        "stall-get",
        "stall-get-big",
    ],
)
def test_a_transient_fault_during_download_is_retried(world: World, fault: Fault) -> None:
    """A body that breaks off is fetched again from where it stopped; no HeadObject is sent."""
    uploaded(world)
    fault = world.proxy.add(fault)
    heads = len(world.proxy.requests("HEAD"))
    report = world.retrieve()
    assert fault.applied == fault.times
    assert set(outcomes(report).values()) == {Outcome.RETRIEVED}
    assert_all_retrieved(world, report)
    assert len(world.proxy.requests("HEAD")) == heads
    if fault.action in ("reset_response", "truncate"):  # one GET more per broken body
        assert len(world.proxy.requests("GET", fault.path)) == 1 + fault.times


@pytest.mark.parametrize(
    "fault",
    [
        Fault("reset_response", method="GET", path=r"/big\.bin$", skip=1, at=MIB),
        Fault("truncate", method="GET", path=r"/big\.bin$", skip=1, at=1000, times=2),
        Fault("status", method="GET", path=r"/big\.bin$", skip=1, status=503, times=2),
    ],
    ids=["reset-range", "truncate-range-2x", "503-range"],
)
def test_a_transient_fault_in_a_range_is_retried(world: World, fault: Fault) -> None:
    """With 4 MiB ranges big.bin is a first GET, closed unread once it has told the size, then
    two ranged GETs; a fault in a range (``skip`` passes over the first GET) is retried."""
    world.options["download_chunksize"] = world.options["download_threshold"] = 4 * MIB
    uploaded(world)
    fault = world.proxy.add(fault)
    heads = len(world.proxy.requests("HEAD"))
    report = world.retrieve()
    assert fault.applied == fault.times
    assert_all_retrieved(world, report)
    assert len(world.proxy.requests("HEAD")) == heads
    assert len(world.proxy.requests("GET", fault.path)) == 1 + 2 + fault.times


def test_a_truncated_whole_object_download_is_retried(world: World) -> None:
    uploaded(world)
    fault = world.proxy.add(Fault("truncate", method="GET", path=r"/small\.bin$", at=150_000))
    report = world.retrieve()
    assert fault.applied == 1
    assert not (world.root / "small.bin").exists() or report.ok  # never corrupt
    assert_all_retrieved(world, report)


# --------------------------------------------------------------------- lasting: a clear error


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault("status", method="PUT", path=r"/small\.bin$", times=100), r"SlowDown"),
        (Fault("status", method="PUT", path=r"/big\.bin\?", status=500, times=100), r"Internal"),
        (Fault("reset_request", method="PUT", path=r"/small\.bin$", at=1000, times=100), "reach"),
        (Fault("stall", method="PUT", path=r"/small\.bin$", seconds=30, times=100), r"reach"),
    ],
    ids=["503", "500-parts", "reset", "stall"],
)
def test_a_lasting_fault_fails_one_upload_cleanly(world: World, fault: Fault, message: str) -> None:
    name = name_of(fault)
    fault = world.proxy.add(fault)
    started = time.monotonic()
    report = world.upload()
    assert time.monotonic() - started < 120
    error = one_line_error(report, name)
    assert message.lower() in error.lower(), error
    # nothing stored and no cfile for the failed file; the others complete
    assert world.cfile(name) is None
    assert world.stored(name) is None
    assert world.pending_multipart() == []
    for other in set(world.data) - {name}:
        assert outcomes(report)[other] is Outcome.UPLOADED
        assert world.stored(other) == world.data[other]
    # once the network heals, the same command completes
    world.proxy.clear()
    again = world.upload()
    assert again.ok
    assert_all_stored(world)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault("status", method="GET", path=r"/small\.bin$", times=100), r"SlowDown"),
        (Fault("reset_response", method="GET", path=r"/big\.bin$", at=MIB, times=100), "reach"),
        (Fault("truncate", method="GET", path=r"/small\.bin$", at=1000, times=100), "reach"),
        (Fault("stall", method="GET", path=r"/small\.bin$", seconds=30, times=100), "reach"),
    ],
    ids=["503", "reset", "truncate", "stall"],
)
def test_a_lasting_fault_fails_one_download_cleanly(
    world: World, fault: Fault, message: str
) -> None:
    uploaded(world)
    name = name_of(fault)
    fault = world.proxy.add(fault)
    started = time.monotonic()
    report = world.retrieve()
    assert time.monotonic() - started < 120
    error = one_line_error(report, name)
    assert message.lower() in error.lower(), error
    assert not (world.root / name).exists()
    assert temp_files(world.root) == []
    for other in set(world.data) - {name}:
        assert (world.root / other).read_bytes() == world.data[other]
    world.proxy.clear()
    assert_all_retrieved(world, world.retrieve())


# --------------------------------------------------------------------- corrupted bodies


@pytest.mark.parametrize(
    "fault",
    [
        Fault("flip", method="GET", path=r"/small\.bin$", at=1000),
        Fault("flip", method="GET", path=r"/big\.bin$", at=1000),
        Fault("flip", method="GET", path=r"/big\.bin$", at=6 * MIB),
    ],
    ids=["get", "get-multipart", "get-multipart-last-part"],
)
def test_a_corrupted_download_never_lands_under_the_artifact_name(
    world: World, fault: Fault
) -> None:
    """A flipped bit is caught (by the SDK's checksum on a GET of an object sent in one part, by
    the engine's sha256 otherwise: a multipart object has no checksum of its whole body): the
    download is deleted and reported, the others arrive, and the next run gets the right
    bytes."""
    uploaded(world)
    name = name_of(fault)
    fault = world.proxy.add(fault)
    report = world.retrieve()
    assert fault.applied == 1
    if report.ok:  # retried by the SDK: then it must be right
        assert_all_retrieved(world, report)
        return
    one_line_error(report, name)
    assert not (world.root / name).exists()
    assert temp_files(world.root) == []
    for other in set(world.data) - {name}:
        assert (world.root / other).read_bytes() == world.data[other]
    assert_all_retrieved(world, world.retrieve())


def test_a_corrupted_body_of_one_get_is_caught_by_s3s_checksum(world: World) -> None:
    """small.bin went up with its sha256 as S3's own checksum, which its GET brings back:
    botocore checks the body against it as it ends, and the download stops with that reason."""
    uploaded(world)
    world.proxy.add(Fault("flip", method="GET", path=r"/small\.bin$", at=1000))
    report = world.retrieve()
    assert "do not match the object's checksum" in one_line_error(report, "small.bin")
    assert not (world.root / "small.bin").exists()
    assert temp_files(world.root) == []
    assert_all_retrieved(world, world.retrieve())


@pytest.mark.parametrize(
    "fault",
    [
        Fault("flip_request", method="PUT", path=r"/small\.bin$", at=150_000),
        Fault("flip_request", method="PUT", path=r"partNumber=1", at=2 * MIB),
    ],
    ids=["put", "part"],
)
def test_a_corrupted_upload_is_never_retrieved_as_the_artifact(world: World, fault: Fault) -> None:
    """Real S3 rejects such a body (signed payload hash, checksums); moto stores it. Either
    way, no corrupt bytes ever reach a working tree under the artifact's name."""
    name = name_of(fault)
    fault = world.proxy.add(fault)
    upload = world.upload()
    assert fault.applied == 1
    if not upload.ok:  # a service that checks: refused, no cfile
        one_line_error(upload, name)
        assert world.cfile(name) is None
        return
    assert world.stored(name) != world.data[name]  # moto kept the corrupted bytes
    world.remove_artifacts()
    world.proxy.clear()
    report = world.retrieve()
    one_line_error(report, name)
    assert not (world.root / name).exists()
    assert temp_files(world.root) == []


# --------------------------------------------------------------------- through the command


def test_faults_through_the_installed_command(
    world: World, cavorite: Cavorite, tmp_path: Path
) -> None:
    """The same promises end to end: transient resets are invisible, a lasting 503 is one line
    on stderr with exit 1, and no traceback is ever printed."""
    config = {
        "store_type": "s3",
        "options": {
            "backend_address": f"{world.proxy.endpoint}/{world.bucket}",
            "metadata_file_extension": "cfile",
            **OPTIONS,
        },
    }
    (world.root / ".cavorite").mkdir()
    (world.root / ".cavorite" / "config").write_text(json.dumps(config))
    env = cli_cloud_env(world.emulator)

    world.proxy.add(Fault("reset_request", method="PUT", path=r"partNumber=1", at=MIB))
    world.proxy.add(Fault("status", method="PUT", path=r"/other\.bin$", times=100))
    result = cavorite("upload", *world.data, cwd=world.root, env=env)
    assert result.code == 1, result.stdout + result.stderr
    [line] = error_lines(result)
    assert "other.bin" in line and "SlowDown" in line
    assert "Traceback" not in result.stderr
    assert world.cfile("other.bin") is None and world.stored("other.bin") is None
    assert world.stored("big.bin") == world.data["big.bin"]

    world.proxy.clear()
    assert cavorite("upload", "other.bin", cwd=world.root, env=env).code == 0
    world.remove_artifacts()
    before = world.proxy.applied()
    world.proxy.add(Fault("reset_response", method="GET", path=r"/big\.bin$", at=2 * MIB))
    world.proxy.add(Fault("stall", method="GET", path=r"/small\.bin$", seconds=5))
    result = cavorite("-v", "retrieve", cwd=world.root, env=env)
    assert result.code == 0, result.stdout + result.stderr
    for name, content in world.data.items():
        assert (world.root / name).read_bytes() == content
    assert world.proxy.applied() - before == 2
