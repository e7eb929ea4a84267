"""Ray Train around the loop: the Ray session, the ``TorchTrainer`` and its run folder.

:func:`ray_session` joins the cluster at ``ray.address`` or, when it is empty, starts a
local Ray for the run (bound to ``ray.node_ip``, loopback by default) and stops it after.
:func:`fit` runs :func:`training.train.worker.train_worker` on ``train.num_workers``
workers (gloo on CPU, NCCL on GPU), keeps ``train.keep_checkpoints`` checkpoints in
``<storage>/<run name>`` and replaces a failed worker up to ``train.max_failures`` times.

The run name is a hash of everything that decides the result (model, loop knobs, data
version, world size, parent model), so rerunning a stopped run finds its own folder and
Ray Train hands its latest checkpoint back: the run resumes instead of starting over; a
changed param starts a new run. Both data paths give the same batches, so ``train.data``
is not part of the name.

Example::

    >>> name = run_name(TrainConfig(), {"n_layer": 4}, {"version": 3})
    >>> name == run_name(TrainConfig(data="delta", max_failures=5), {"n_layer": 4},
    ...                  {"version": 3})
    True
    >>> name == run_name(TrainConfig(max_steps=10), {"n_layer": 4}, {"version": 3})
    False
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmlake.config import fingerprint
from llmlake.config_train import RayConfig, TrainConfig
from llmlake.log import get_logger

if TYPE_CHECKING:
    import ray.train

log = get_logger(__name__)

# Knobs that change where or how robustly a run happens, not what it computes.
NOT_IN_RUN_NAME = ("data", "storage", "max_failures", "keep_checkpoints", "placement",
                   "cpus_per_worker", "compile")


def run_name(train: TrainConfig, model: dict[str, Any], data: dict[str, Any]) -> str:
    knobs = {k: v for k, v in asdict(train).items() if k not in NOT_IN_RUN_NAME}
    return "train-" + fingerprint({"train": knobs, "model": model, "data": data})


@contextmanager
def ray_session(cfg: RayConfig) -> Iterator[None]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine
    os.environ.setdefault("RAY_TRAIN_METRICS_ENABLED", "0")  # no Prometheus exporter to feed
    import ray

    if ray.is_initialized():  # the caller's session (a test, a notebook): leave it be
        yield
        return
    # Ray's own INFO/WARNING chatter (and a cleaner actor that polls the state API, which
    # needs the dashboard package) hides the training log; errors still come through.
    kwargs: dict[str, Any] = {"log_to_driver": True,
                              "logging_config": ray.LoggingConfig(log_level="ERROR")}
    if cfg.node_ip:
        kwargs["_node_ip_address"] = cfg.node_ip
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    if cfg.address:
        log.info("train: joining the Ray cluster at %s", cfg.address)
        ray.init(address=cfg.address, **kwargs)
    else:
        ray.init(num_cpus=cfg.num_cpus or None, **kwargs)
    root.setLevel(level)  # the logging config is meant for Ray's processes, not this one
    root.handlers[:] = handlers
    try:
        yield
    finally:
        ray.shutdown()


def storage_root(train: TrainConfig, artifacts: str) -> str:
    """Where runs keep checkpoints: absolute (Ray requires it), or a URI."""
    if "://" in train.storage:
        return train.storage
    return str(Path(train.storage or Path(artifacts) / "checkpoints").resolve())


def fit(worker_config: dict[str, Any], train: TrainConfig, name: str, storage: str,
        datasets: dict[str, Any] | None = None) -> ray.train.Result:
    from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from training.train.worker import train_worker

    trainer = TorchTrainer(
        train_worker,
        train_loop_config=worker_config,
        torch_config=TorchConfig(backend="nccl" if train.use_gpu else "gloo"),
        scaling_config=ScalingConfig(
            num_workers=train.num_workers, use_gpu=train.use_gpu,
            resources_per_worker={"CPU": train.cpus_per_worker},
            placement_strategy=train.placement),
        run_config=RunConfig(
            name=name, storage_path=storage,
            checkpoint_config=CheckpointConfig(num_to_keep=train.keep_checkpoints),
            failure_config=FailureConfig(max_failures=train.max_failures)),
        datasets=datasets,
        # Every worker reads its split whole; the sampler picks its rows (see worker.py).
        dataset_config=DataConfig(datasets_to_split=[]),
    )
    return trainer.fit()


def delta_datasets(path: str, version: int) -> dict[str, Any]:
    """``gold/sequences`` at ``version``, one Ray dataset per split the loop reads."""
    import ray.data
    from ray.data.expressions import col

    from llmlake.storage import storage_options

    # Zero-CPU tasks: the training workers may hold every CPU of the cluster (one worker per
    # core is the usual shape), and a read that waits for a free CPU would wait forever.
    table = ray.data.read_delta(path, version=version, columns=["seq_id", "split", "tokens"],
                                storage_options=storage_options(path), num_cpus=0)
    return {split: table.filter(expr=col("split") == split, num_cpus=0)
            for split in ("train", "val")}
