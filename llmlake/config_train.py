"""Typed schema of the model half's ``params.yaml`` sections: ``model``, ``train``, ``ray``.

``model`` names a preset of :mod:`training.model` and overrides any of its dimensions
(``null`` keeps the preset's), so a custom architecture is a params change. The preset
table lives with the model (which imports torch only), so an unknown preset, a head count
that does not divide the width or a context longer than the sequences is caught when the
``train`` command resolves the model, before Ray starts, with the key in the message.

``train`` holds the loop's knobs (batch, schedule, checkpoints, failures) and ``context``,
which the tokenize stage packs sequences for (``context + 1`` tokens each). ``ray`` says
where training runs: an empty ``address`` starts a local Ray for the run.

Example::

    >>> TrainConfig(batch_size=8, grad_accum=2).global_batch(workers=2)
    32
    >>> ModelParams(n_layer=0)
    Traceback (most recent call last):
    ...
    ValueError: n_layer: must be at least 1, got 0
    >>> TrainConfig(data="csv")
    Traceback (most recent call last):
    ...
    ValueError: data: must be one of shards, delta, got 'csv'
"""

from __future__ import annotations

from dataclasses import dataclass

from llmlake.bounds import Bounded, bounded, fraction, seed_field

DATA_PATHS = ("shards", "delta")
PLACEMENTS = ("PACK", "SPREAD")
DTYPES = ("auto", "fp32", "bf16")


def _one_of(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{key}: must be one of {', '.join(choices)}, got {value!r}")


@dataclass(frozen=True)
class ModelParams(Bounded):
    preset: str = "tiny"          # training.model.PRESETS: tiny, small, gpt2-124m, ...
    arch: str = "gpt"             # gpt | hybrid (convolution blocks between attention blocks)
    # Dimensions: null takes the preset's value.
    n_layer: int | None = bounded(None, min=1)
    n_head: int | None = bounded(None, min=1)
    n_embd: int | None = bounded(None, min=1)
    mlp_hidden: int | None = bounded(None, min=0)      # 0 = SwiGLU's 8/3 x width
    context: int | None = bounded(None, min=1)         # null = train.context
    attn_every: int | None = bounded(None, min=1)      # hybrid: every k-th block attends
    conv_kernel: int | None = bounded(None, min=1)
    rope_theta: float | None = bounded(None, above=0)
    dropout: float | None = fraction(None)

    def overrides(self) -> dict[str, object]:
        """The dimensions set in params (the rest come from the preset)."""
        names = ("arch", "n_layer", "n_head", "n_embd", "mlp_hidden", "context",
                 "attn_every", "conv_kernel", "rope_theta", "dropout")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


@dataclass(frozen=True)
class TrainConfig(Bounded):
    # Tokens a model sees at once; packed sequences hold context + 1 (inputs and targets).
    context: int = bounded(256, min=1)
    data: str = "shards"          # shards (memory-mapped files) | delta (Ray Data)
    num_workers: int = bounded(2, min=1)
    use_gpu: bool = False
    cpus_per_worker: int = bounded(1, min=1)   # also the worker's torch threads
    placement: str = "PACK"       # PACK fills a node first; SPREAD puts workers apart
    batch_size: int = bounded(8, min=1)        # sequences per worker per micro-step
    grad_accum: int = bounded(1, min=1)        # micro-steps per optimizer step
    max_steps: int = bounded(200, min=1)
    lr: float = bounded(3e-3, above=0)
    min_lr_ratio: float = fraction(0.1)        # cosine decays to lr x this
    warmup_steps: int = bounded(20, min=0)
    weight_decay: float = bounded(0.1, min=0)
    beta1: float = fraction(0.9)
    beta2: float = fraction(0.95)
    grad_clip: float = bounded(1.0, min=0)     # 0 turns clipping off
    eval_every: int = bounded(25, min=1)       # steps between validation losses
    eval_batches: int = bounded(4, min=1)      # the fixed val slice, in batches per worker
    log_every: int = bounded(5, min=1)
    checkpoint_every: int = bounded(50, min=1)
    keep_checkpoints: int = bounded(2, min=1)
    max_failures: int = bounded(2, min=-1)     # -1 retries without end
    seed: int = seed_field(0)
    dtype: str = "auto"           # auto = bf16 autocast on GPU, fp32 on CPU
    compile: bool = False         # torch.compile the model (pays off on GPU)
    warm_start: str = ""          # a model folder (artifacts/model) to start from
    storage: str = ""             # checkpoints; "" = <artifacts>/checkpoints (shared on a cluster)

    def __post_init__(self) -> None:
        super().__post_init__()
        _one_of("data", self.data, DATA_PATHS)
        _one_of("placement", self.placement, PLACEMENTS)
        _one_of("dtype", self.dtype, DTYPES)

    def global_batch(self, workers: int | None = None) -> int:
        """Sequences per optimizer step across all workers."""
        return self.batch_size * self.grad_accum * (workers or self.num_workers)


@dataclass(frozen=True)
class RayConfig(Bounded):
    address: str = ""             # "" starts a local Ray; host:port joins a running cluster
    # The address this machine uses for Ray. Loopback keeps a local Ray off the network;
    # "" lets Ray pick the interface address (a driver on a real cluster).
    node_ip: str = "127.0.0.2"
    num_cpus: int = bounded(0, min=0)          # local Ray only: CPUs it may use, 0 = all
