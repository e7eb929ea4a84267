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
from dataclasses import replace
from pathlib import Path

import pytest
from lake_helpers import ROOT, stage_argv
from train_helpers import assert_same_model, train_params

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
def cluster():
    """A two-node Ray cluster on loopback, two CPUs a node, token authentication on;
    yields its address and the environment a driver needs; stopped whatever happens."""
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **auth}
    port = _free_port()
    try:
        _ray("start", "--head", f"--node-ip-address={HEAD}", f"--port={port}", "--num-cpus=2",
             "--include-dashboard=false", "--disable-usage-stats", env=env)
        _ray("start", f"--address={HEAD}:{port}", f"--node-ip-address={NODE}", "--num-cpus=2",
             env=env)
        yield f"{HEAD}:{port}", env
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_two_nodes_train_like_one_process(train_inputs, tmp_path, cluster, reference):
    """The driver is ``llmlake train`` in a process of its own, as a user would run it."""
    address, env = cluster
    base = train_params(train_inputs["params"], tmp_path, None,
                        {"data": "delta", "placement": "SPREAD"})
    params = replace(base, ray=replace(base.ray, address=address, node_ip=HEAD))
    proc = subprocess.run(stage_argv(params, tmp_path, "train"), env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "reports" / "train.json").read_text())
    lineage = json.loads((tmp_path / "artifacts" / "model" / "lineage.json").read_text())
    assert sorted(lineage["nodes"]) == [HEAD, NODE]  # one worker on each node
    assert report["steps"] == 8
    assert_same_model(tmp_path / "artifacts" / "model", reference)
    assert report["val_loss"] == pytest.approx(reference.state.log[-1]["val_loss"], abs=1e-4)
