"""The S3 emulator: moto's server with a request counter, on a free 127.0.0.1 port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

HERE = Path(__file__).resolve().parent.parent

CREDENTIALS = {
    # any key works with moto; fixed values, and no shared files or profiles are consulted
    "AWS_ACCESS_KEY_ID": "benchmark",
    "AWS_SECRET_ACCESS_KEY": "benchmark-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def s3_env(base: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k not in UNSET}
    env.update(CREDENTIALS)
    return env


class MotoServer:
    """``with MotoServer(python, log) as moto:`` starts the server and stops it on exit."""

    def __init__(self, python: str, log: Path) -> None:
        self.python = python
        self.log = log
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._client: Any = None

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [self.python, str(HERE / "moto_counting_server.py"), str(self.port)],
                stdout=out,
                stderr=out,
                env=s3_env(dict(os.environ)),
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited at start; see {self.log}")
            try:
                self.counts()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not answer on port {self.port}; see {self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _call(self, path: str, method: str = "GET") -> dict[str, Any]:
        data = b"" if method == "POST" else None
        request = urllib.request.Request(self.endpoint + path, method=method, data=data)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body.startswith(b"{") else {}

    def counts(self) -> dict[str, dict[str, int]]:
        return self._call("/__bench__/counts")

    def reset_counts(self) -> None:
        self._call("/__bench__/reset", "POST")

    def reset_all(self) -> None:
        """Drop every bucket and object (moto's own reset), freeing the emulator's memory."""
        self._call("/moto-api/reset", "POST")

    def client(self) -> Any:
        if self._client is None:
            import boto3  # the suite needs boto3 only for its S3 part
            from botocore.config import Config

            self._client = boto3.session.Session(
                aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                region_name="us-east-1",
            ).client(
                "s3",
                endpoint_url=self.endpoint,
                config=Config(s3={"addressing_style": "path"}),
            )
        return self._client

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def cpu_seconds(self) -> float | None:
        """CPU time the server process has used so far (user + system)."""
        if self.pid is None:
            return None
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
