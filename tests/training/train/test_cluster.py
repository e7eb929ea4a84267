"""Training on a Ray cluster, not only a local Ray: a head and a second node, each its own
``ray start`` process on its own loopback address; ``ray.address`` points the stage at the
head, the two workers land on different nodes, read gold/sequences through Ray Data, and
end with the weights of the one-process reference (so the same losses as a local run)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import assert_same_model, train_params

from training.train import stage as train

pytestmark = [pytest.mark.spark, pytest.mark.slow]

HEAD, NODE = "127.0.0.2", "127.0.0.3"
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HEAD, 0))
        return s.getsockname()[1]


def _ray(*args: str, env: dict[str, str]) -> None:
    proc = subprocess.run([RAY, *args], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.fixture
def cluster(monkeypatch):
    """A two-node Ray cluster on loopback, two CPUs a node, token authentication on (the
    nodes and this driver share the token); stopped whatever happens."""
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    for key, value in auth.items():
        monkeypatch.setenv(key, value)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **auth}
    port = _free_port()
    try:
        _ray("start", "--head", f"--node-ip-address={HEAD}", f"--port={port}", "--num-cpus=2",
             "--include-dashboard=false", "--disable-usage-stats", env=env)
        _ray("start", f"--address={HEAD}:{port}", f"--node-ip-address={NODE}", "--num-cpus=2",
             env=env)
        yield f"{HEAD}:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_two_nodes_train_like_one_process(train_inputs, tmp_path, cluster, reference):
    base = train_params(train_inputs["params"], tmp_path, None,
                        {"data": "delta", "placement": "SPREAD"})
    params = type(base)(**{**base.__dict__,
                           "ray": type(base.ray)(address=cluster, node_ip=HEAD)})
    report = train.run(params)
    lineage = json.loads((tmp_path / "artifacts" / "model" / "lineage.json").read_text())
    assert sorted(lineage["nodes"]) == [HEAD, NODE]  # one worker on each node
    assert report["steps"] == 8
    assert_same_model(tmp_path / "artifacts" / "model", reference)
    assert report["val_loss"] == pytest.approx(reference.state.log[-1]["val_loss"], abs=1e-4)
