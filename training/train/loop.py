"""The training loop: one loop for every data path, with or without Ray.

:class:`Loop` owns the model, AdamW with weight-decay groups (fused on CUDA), warmup then
cosine decay, gradient accumulation (DDP's all-reduce only on the last micro-step),
global-norm clipping, bf16 autocast on GPU, optional ``torch.compile`` and TF32. It asks
a :class:`training.data.Sampler` for each micro-batch by *position*, measures the fixed
validation slice every ``train.eval_every`` steps, and keeps one log row every
``train.log_every`` steps (step, losses, learning rate, tokens/s and, on a GPU it knows
the peak of, MFU).

What happens around it is the caller's: :meth:`Loop.run` hands each checkpoint to
``report(state, save)`` (Ray Train reports it; a plain run writes a folder), so this module
imports torch and numpy only and runs where Ray does not exist.

Example::

    >>> import numpy as np
    >>> from llmlake.config_train import TrainConfig
    >>> from training.data import Sequences
    >>> from training.model import ModelConfig
    >>> cfg = TrainConfig(context=8, batch_size=2, max_steps=3, warmup_steps=1,
    ...                   eval_every=3, log_every=1, checkpoint_every=3)
    >>> seqs = Sequences(np.random.default_rng(0).integers(2, 64, (16, 9)))
    >>> mcfg = ModelConfig.from_preset("tiny", n_layer=1, vocab_size=64, context=8)
    >>> loop = Loop(mcfg, cfg, seqs, seqs, pad_id=1)
    >>> state = loop.run(report=lambda state, save: None)
    >>> state.step, [row["step"] for row in state.log if row.get("val_loss") != ""]
    (3, [0, 3])
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from llmlake.config_train import TrainConfig
from training.checkpoint import TrainState, load_checkpoint, rng_state, save_checkpoint
from training.data import Sampler, Sequences, to_batch, val_rows
from training.hardware import mfu
from training.model import LanguageModel, ModelConfig

# report(state, save): save(folder) writes the checkpoint, or is None on ranks that do not.
Report = Callable[[TrainState, Callable[[Path], None] | None], None]


@dataclass(frozen=True)
class Worker:
    """Where this copy of the loop runs: its rank among ``world`` and its device."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"

    @property
    def is_chief(self) -> bool:
        return self.rank == 0


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to ``lr``, then cosine decay to ``lr x min_lr_ratio`` at max_steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * progress))


class Loop:
    def __init__(self, model_cfg: ModelConfig, cfg: TrainConfig, train: Sequences,
                 val: Sequences, pad_id: int | None, worker: Worker = Worker(),
                 wrap: Callable[[torch.nn.Module], torch.nn.Module] = lambda m: m,
                 init: dict[str, torch.Tensor] | None = None) -> None:
        self.cfg, self.worker, self.train, self.val, self.pad_id = cfg, worker, train, val, pad_id
        self.device = torch.device(worker.device)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        self.model = LanguageModel(model_cfg).to(self.device)
        if init is not None:  # warm start: the parent model's weights
            self.model.load_state_dict(init)
        self.optimizer = self.model.configure_optimizer(
            cfg.weight_decay, cfg.lr, (cfg.beta1, cfg.beta2), self.device.type)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_at(step, cfg) / cfg.lr)
        self.sampler = Sampler(len(train), cfg.batch_size, worker.world, worker.rank, cfg.seed)
        self.net = wrap(torch.compile(self.model) if cfg.compile else self.model)
        self.state = TrainState()
        self.autocast = self._autocast()

    def _autocast(self) -> Any:
        bf16 = self.cfg.dtype == "bf16" or (self.cfg.dtype == "auto"
                                             and self.device.type == "cuda")
        if bf16:
            return lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext

    @property
    def context(self) -> int:
        return self.model.config.context

    @property
    def step_tokens(self) -> int:
        """Tokens all workers train on per optimizer step."""
        return self.cfg.global_batch(self.worker.world) * min(self.context,
                                                              self.train.seq_len - 1)

    def restore(self, folder: str | Path) -> TrainState:
        self.state = load_checkpoint(folder, self.model, self.optimizer, self.scheduler,
                                     rank=self.worker.rank)
        return self.state

    def _micro_step(self, last: bool) -> torch.Tensor:
        rows = self.sampler.rows(self.state.position)
        self.state.position += self.sampler.global_batch
        x, y = to_batch(self.train.take(rows), self.context, self.pad_id, self.device,
                        mask=self.train.take_mask(rows))
        sync = contextlib.nullcontext() if last or not hasattr(self.net, "no_sync") \
            else self.net.no_sync()  # DDP: all-reduce gradients once per optimizer step
        with sync:
            with self.autocast():
                _, loss = self.net(x, y)
            (loss / self.cfg.grad_accum).backward()
        return loss.detach()

    def step(self) -> torch.Tensor:
        """One optimizer step; returns this worker's mean loss over its micro-steps, still
        on the device: reading it (and averaging across workers) waits for the step to
        finish, so :meth:`run` does that only on the steps it logs."""
        self.model.train()
        losses = [self._micro_step(i == self.cfg.grad_accum - 1)
                  for i in range(self.cfg.grad_accum)]
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        self.state.tokens += self.step_tokens
        return torch.stack(losses).mean()

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean loss over the fixed validation slice, across workers."""
        self.model.eval()
        losses = []
        for rows in val_rows(len(self.val), self.cfg.batch_size, self.cfg.eval_batches,
                             self.worker.world, self.worker.rank):
            x, y = to_batch(self.val.take(rows), self.context, self.pad_id, self.device,
                            mask=self.val.take_mask(rows))
            with self.autocast():
                losses.append(self.model(x, y)[1].float())
        return _mean(torch.stack(losses).mean())

    def run(self, report: Report, on_step: Callable[[TrainState], None] | None = None
            ) -> TrainState:
        """Train to ``max_steps`` from the current state, reporting each checkpoint."""
        cfg, state = self.cfg, self.state
        if state.step == 0 and not state.log:
            state.log.append(self._row(val=self.evaluate(), loss="", rate=None))
        tick, tokens_at_tick = time.perf_counter(), state.tokens
        while state.step < cfg.max_steps:
            loss = self.step()
            if state.step % cfg.log_every == 0 or state.step % cfg.eval_every == 0 \
                    or state.step == cfg.max_steps:
                now = time.perf_counter()
                state.train_seconds += now - tick
                rate = (state.tokens - tokens_at_tick) / max(now - tick, 1e-9)
                evaluate = state.step % cfg.eval_every == 0 or state.step == cfg.max_steps
                state.log.append(self._row(self.evaluate() if evaluate else "", _mean(loss),
                                           rate))
                tick, tokens_at_tick = time.perf_counter(), state.tokens
            if state.step % cfg.checkpoint_every == 0 or state.step == cfg.max_steps:
                self._report(report)
                tick = time.perf_counter()  # checkpoint time is not training time
            if on_step is not None:
                on_step(state)
        return state

    def _row(self, val: float | str, loss: float | str, rate: float | None) -> dict[str, Any]:
        row = {"step": self.state.step, "train_loss": _round(loss), "val_loss": _round(val),
               "lr": self.scheduler.get_last_lr()[0], "tokens": self.state.tokens,
               "tokens_per_s": round(rate, 1) if rate else ""}
        if self.device.type == "cuda":
            dtype = "bf16" if self.autocast is not contextlib.nullcontext else "tf32"
            util = rate and mfu(rate, self.model.flops_per_token(),
                                torch.cuda.get_device_name(self.device), dtype)
            if util is not None:  # a GPU whose peak is unknown gets no guessed MFU
                row["mfu"] = round(util / self.worker.world, 4)
        return row

    def _report(self, report: Report) -> None:
        rngs = _gather(rng_state(), self.worker.world)
        save = None
        if self.worker.is_chief:
            def save(folder: Path) -> None:
                save_checkpoint(folder, self.model, self.optimizer, self.scheduler,
                                self.state, rngs)
        report(self.state, save)


def _mean(value: torch.Tensor) -> float:
    if dist.is_available() and dist.is_initialized():
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= dist.get_world_size()
    return float(value)


def _gather(obj: Any, world: int) -> list[Any]:
    if world > 1 and dist.is_available() and dist.is_initialized():
        out: list[Any] = [None] * world
        dist.all_gather_object(out, obj)
        return out
    return [obj]


def _round(value: float | str) -> float | str:
    return round(value, 5) if isinstance(value, float) else value
