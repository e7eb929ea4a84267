"""The loop without Ray: schedule, checkpoints, exact resume, and two gloo workers proven
equal to one process that takes both workers' rows."""

from __future__ import annotations

import socket
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from llmlake.config_train import TrainConfig
from training.checkpoint import load_checkpoint, save_checkpoint
from training.data import Sequences
from training.hardware import peak_flops
from training.model import ModelConfig
from training.train.loop import Loop, Worker, lr_at

CFG = TrainConfig(context=16, batch_size=4, max_steps=8, warmup_steps=2, lr=3e-3,
                  eval_every=4, log_every=2, checkpoint_every=4, eval_batches=2)
MODEL = ModelConfig.from_preset("tiny", n_layer=2, n_embd=64, n_head=2, vocab_size=97,
                                context=16)
SEQS = Sequences(np.random.default_rng(0).integers(2, 97, (64, 17)))
VAL = Sequences(np.random.default_rng(1).integers(2, 97, (16, 17)))


def curve(state) -> list[tuple]:
    """The log without wall-clock figures."""
    return [(r["step"], r["train_loss"], r["val_loss"], r["lr"]) for r in state.log]


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_warmup_rises_linearly_then_cosine_decays_to_the_floor():
    cfg = TrainConfig(lr=1.0, warmup_steps=4, max_steps=14, min_lr_ratio=0.1)
    assert [lr_at(s, cfg) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_at(9, cfg) == pytest.approx(0.55)  # halfway down the cosine
    assert lr_at(14, cfg) == pytest.approx(0.1)
    assert all(lr_at(s, cfg) >= lr_at(s + 1, cfg) for s in range(4, 20))


def test_a_checkpoint_restores_the_same_outputs_and_optimizer_state(tmp_path):
    loop = Loop(MODEL, CFG, SEQS, VAL, pad_id=1)
    for _ in range(3):
        loop.step()
    save_checkpoint(tmp_path, loop.model, loop.optimizer, loop.scheduler, loop.state, [])
    other = Loop(MODEL, replace(CFG, seed=7), SEQS, VAL, pad_id=1)  # other initial weights
    idx = torch.from_numpy(SEQS.tokens[:2, :16].astype(np.int64))
    assert not torch.equal(other.model(idx)[0], loop.model(idx)[0])
    state = load_checkpoint(tmp_path, other.model, other.optimizer, other.scheduler)
    assert torch.equal(other.model(idx)[0], loop.model(idx)[0])
    assert (state.step, state.position) == (3, 3 * CFG.batch_size)
    assert other.scheduler.get_last_lr() == loop.scheduler.get_last_lr()
    mine, theirs = loop.optimizer.state_dict(), other.optimizer.state_dict()
    assert mine["param_groups"] == theirs["param_groups"]
    for key, value in mine["state"].items():
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(value[name], theirs["state"][key][name])


class Stop(Exception):
    """A crash after some step."""


@pytest.mark.parametrize("arch", ["gpt", "hybrid"])
def test_a_resumed_run_continues_at_the_step_and_data_position_and_ends_the_same(tmp_path,
                                                                                  arch):
    model = replace(MODEL, arch=arch, attn_every=2)
    whole = Loop(model, CFG, SEQS, VAL, pad_id=1)
    whole.run(report=lambda state, save: None)

    def keep(state, save):  # the checkpoint at step 4, as Ray Train would store it
        if state.step == 4:
            save(tmp_path)

    def crash(state):
        if state.step == 6:
            raise Stop

    with pytest.raises(Stop):
        Loop(model, CFG, SEQS, VAL, pad_id=1).run(report=keep, on_step=crash)
    resumed = Loop(model, CFG, SEQS, VAL, pad_id=1)
    state = resumed.restore(tmp_path)
    assert (state.step, state.position) == (4, 4 * CFG.batch_size)
    resumed.run(report=lambda state, save: None)
    assert resumed.state.step == whole.state.step == CFG.max_steps
    assert resumed.state.position == whole.state.position
    assert curve(resumed.state) == curve(whole.state)
    for name, value in weights(whole.model).items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        torch.set_num_threads(1)
        loop = Loop(MODEL, CFG, SEQS, VAL, pad_id=1, worker=Worker(rank, world),
                    wrap=torch.nn.parallel.DistributedDataParallel)
        loop.run(report=lambda state, save: None)
        if rank == 0:
            out.put((curve(loop.state), {k: v.numpy() for k, v in weights(loop.model).items()}))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_workers_train_as_one_process_taking_both_their_rows():
    """Data parallel with batch B on 2 workers = one process with batch 2B: the same rows
    per step (the sampler's blocks), the same averaged gradient."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(r, 2, _free_port_once(), out)) for r in (0, 1)]
    for p in procs:
        p.start()
    log, dist_weights = out.get(timeout=300)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    one = Loop(MODEL, replace(CFG, batch_size=2 * CFG.batch_size), SEQS, VAL, pad_id=1)
    one.run(report=lambda state, save: None)
    assert [r[0] for r in log] == [r[0] for r in curve(one.state)]
    np.testing.assert_allclose([r[1] or 0 for r in log], [r[1] or 0 for r in curve(one.state)],
                               rtol=1e-4)
    for name, value in weights(one.model).items():
        np.testing.assert_allclose(dist_weights[name], value.numpy(), atol=1e-5, err_msg=name)


_PORT: list[int] = []


def _free_port_once() -> int:
    if not _PORT:
        _PORT.append(_free_port())
    return _PORT[0]


@pytest.mark.gpu
@pytest.mark.parametrize("compile_model", [False, True])
def test_the_loop_trains_on_a_gpu_with_bf16_autocast(compile_model):
    cfg = replace(CFG, max_steps=20, eval_every=10, compile=compile_model)
    loop = Loop(MODEL, cfg, SEQS, VAL, pad_id=1, worker=Worker(device="cuda"))
    state = loop.run(report=lambda state, save: None)
    vals = [r["val_loss"] for r in state.log if r["val_loss"] != ""]
    assert vals[-1] < vals[0]
    assert next(loop.model.parameters()).device.type == "cuda"
    known = peak_flops(torch.cuda.get_device_name(), "bf16") is not None
    assert ("mfu" in state.log[-1]) == known  # MFU only where the GPU's peak is known
