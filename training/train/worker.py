"""What each Ray Train worker runs: read its data, build the loop, resume, train, report.

:func:`train_worker` is the ``train_loop_per_worker`` of the ``TorchTrainer``. Each worker
reads the split it trains on whole, by either path, and the :class:`training.data.Sampler`
gives it its rows of every global batch: Ray Data's own split hands rows to workers in an
order that depends on timing, and exact resume and path-independent batches need an order
that does not.

* ``shards``: the memory-mapped ``artifacts/shards/<split>.bin`` (a folder every node sees);
* ``delta``: ``gold/sequences`` at the pinned version through Ray Data
  (``ray.train.get_dataset_shard``), collected into a local memory-mapped file with each
  row's ``seq_id``, so the rows are addressed in ``seq_id`` order as in the shard.
* ``arrays``: rows the driver prepared (``llmlake finetune``), memory-mapped from the folder
  ``arrays`` with their loss mask (:func:`training.data.array_split`).

Checkpoints go through ``ray.train.report``; on a restart (a replaced worker, or a rerun of
a stopped run) ``ray.train.get_checkpoint()`` hands back the latest and the loop resumes
at its step and data position. ``fail_at`` makes one rank raise once after a given step:
the fault-injection hook of the tests.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from llmlake.config_train import TrainConfig
from training.checkpoint import TrainState
from training.data import Sequences, array_split, collect_rows, shard_split
from training.model import ModelConfig
from training.train.loop import Loop, Worker, _gather


def train_worker(config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()
    worker = Worker(ctx.get_world_rank(), ctx.get_world_size(),
                    str(ray.train.torch.get_device()))
    torch.set_num_threads(config["threads"])  # Ray sets OMP_NUM_THREADS=1 otherwise
    cfg = TrainConfig(**config["train"])
    model_cfg = ModelConfig.from_dict(config["model"])
    train, val = (_split(config, name, model_cfg.context) for name in ("train", "val"))
    init = _weights(config["warm_start"]) if config.get("warm_start") else None
    loop = Loop(model_cfg, cfg, train, val, config["pad_id"], worker,
                wrap=ray.train.torch.prepare_model, init=init)
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            loop.restore(folder)
        # Kept in the checkpoints and the report: where each restart picked the run up.
        loop.state.extra["restarts"] = [*loop.state.extra.get("restarts", []), loop.state.step]
    nodes = _gather(ray.util.get_node_ip_address(), worker.world)
    loop.state.extra["nodes"] = nodes
    fault = _fault(config.get("fail_at"), worker.rank)
    progress = _progress(cfg.max_steps, started=loop.state.step) if worker.is_chief else None
    loop.run(report=_report, on_step=lambda state: [f(state) for f in (fault, progress) if f])


def _split(config: dict[str, Any], split: str, context: int) -> Sequences:
    if config["data"] == "shards":
        seqs, _ = shard_split(config["shards"], split)
    elif config["data"] == "arrays":
        seqs = array_split(config["arrays"], split)
    else:
        seqs = _from_ray_data(split, config["seq_len"], config["counts"][split])
    # Prepared arrays may hold shorter rows (padded fine-tuning examples end at the longest
    # one: no compute on padding); the tables and shards always hold context + 1.
    if seqs.seq_len < context + 1 and config["data"] != "arrays":
        raise ValueError(f"model.context: {context} needs sequences of {context + 1} tokens, "
                         f"the {split} split has {seqs.seq_len}")
    return seqs


def _from_ray_data(split: str, seq_len: int, count: int) -> Sequences:
    import ray.train

    shard = ray.train.get_dataset_shard(split)
    return collect_rows(shard.iter_batches(batch_size=1024, batch_format="pyarrow"),
                        split, seq_len, count)


def _weights(folder: str) -> dict[str, torch.Tensor]:
    from training.checkpoint import load_model

    model, _ = load_model(folder)  # the driver checked its config matches
    return model.state_dict()


def _report(state: TrainState, save: Any) -> None:
    import ray.train

    last = next((r for r in reversed(state.log) if r.get("train_loss") != ""), {})
    metrics = {"step": state.step, "position": state.position, "tokens": state.tokens,
               "train_loss": last.get("train_loss"), "val_loss": last.get("val_loss")}
    if save is None:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory(prefix="llmlake-ckpt-") as folder:
        save(Path(folder))
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))


def _progress(max_steps: int, started: int) -> Any:
    """Rank 0 prints each new log row as it happens (Ray forwards it to the driver)."""
    t0 = time.perf_counter()

    def show(state: TrainState) -> None:
        row = state.log[-1] if state.log else {}
        if row.get("step") != state.step:
            return
        done = state.step - started
        eta = (time.perf_counter() - t0) / max(done, 1) * (max_steps - state.step)
        val = f" val {row['val_loss']:.4f}" if row.get("val_loss") != "" else ""
        # Written to the stream, not print(): Ray Train patches print to log each line
        # as well, which would show it twice.
        sys.stderr.write(f"train: step {state.step}/{max_steps} ({state.step / max_steps:4.0%}) "
                         f"loss {row['train_loss']:.4f}{val} lr {row['lr']:.2e} "
                         f"{row['tokens_per_s'] or 0:,.0f} tok/s, eta {eta:.0f}s\n")
        sys.stderr.flush()
    return show


def _fault(plan: dict[str, Any] | None, rank: int) -> Any:
    """After step ``plan["step"]`` rank ``plan["rank"]`` raises, once per marker file."""
    if not plan or plan["rank"] != rank:
        return None

    def check(state: TrainState) -> None:
        marker = Path(plan["marker"])
        if state.step == plan["step"] and not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(f"failed after step {state.step}\n")
            raise RuntimeError(f"injected failure on rank {rank} after step {state.step}")
    return check
