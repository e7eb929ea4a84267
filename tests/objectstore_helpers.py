"""An S3-compatible server on loopback for the object-store tests (a plain module).

:func:`s3_server` starts moto's server on ``127.0.0.1`` at a free port, in a process group
of its own, and stops the group on exit. :func:`fake_credentials` makes throwaway keys,
fresh for every server, so a test can search its logs and reports for them: they are set
only in the environment handed to the processes under test, never in a file.

Example::

    >>> creds = fake_credentials()
    >>> sorted(creds), creds["AWS_ACCESS_KEY_ID"].startswith("AKIA")
    (['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'], True)
    >>> creds == fake_credentials()
    False
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
REGION = "us-east-1"
# Straight to the loopback server, whatever proxy the environment names.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fake_credentials() -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": "AKIA" + secrets.token_hex(8).upper(),
            "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    credentials: dict[str, str]

    def env(self) -> dict[str, str]:
        """This process's environment plus what a user sets to reach the store."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and k not in ("HTTP_PROXY", "HTTPS_PROXY")}
        return {**env, **self.credentials, "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_REGION": REGION,
                # Nothing may probe the instance-metadata address for credentials.
                "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": LOOPBACK,
                "PYSPARK_PYTHON": sys.executable, "DVC_NO_ANALYTICS": "1"}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=self.credentials["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=self.credentials["AWS_SECRET_ACCESS_KEY"])

    def make_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


@contextmanager
def s3_server(log: Path, wait_s: float = 60) -> Iterator[S3Server]:
    """moto's S3 server on loopback; its output goes to ``log``."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        endpoint = f"http://{LOOPBACK}:{port}"
        _wait_up(proc, endpoint, wait_s, log)
        yield S3Server(endpoint, fake_credentials())
    finally:
        _stop(proc)


def _wait_up(proc: subprocess.Popen, endpoint: str, wait_s: float, log: Path) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            DIRECT.open(f"{endpoint}/moto-api/", timeout=2).close()
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise RuntimeError(f"moto server not answering at {endpoint} after {wait_s}s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
