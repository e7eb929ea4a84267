"""Typed schema of the sections that judge and publish a model: ``evaluate``, ``promote``,
``export``.

``evaluate`` says what the candidate (``artifacts/model`` unless ``model`` names another
folder) is measured on: the gold splits at the version its lineage names, the task files
(``builtin:next_sentence`` is built from the test split) and the bias templates (``""``
is the packaged set). ``promote`` holds the gate's two bounds; ``export`` where and in
which format ``llmlake export`` writes a model.

Example::

    >>> EvaluateConfig(splits=["val", "train"])
    Traceback (most recent call last):
    ...
    ValueError: splits: each must be one of val, test, got 'train'
    >>> PromoteConfig(tolerance=-0.1)
    Traceback (most recent call last):
    ...
    ValueError: tolerance: must be at least 0, got -0.1
    >>> ExportConfig(format="onnx")
    Traceback (most recent call last):
    ...
    ValueError: format: must be one of hf, got 'onnx'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmlake.bounds import Bounded, bounded, seed_field

EVAL_SPLITS = ("val", "test")
DEVICES = ("auto", "cpu", "cuda")
NORMALIZE = ("bytes", "tokens", "none")
EXPORT_FORMATS = ("hf",)
BUILTIN_TASK = "builtin:next_sentence"


@dataclass(frozen=True)
class EvaluateConfig(Bounded):
    model: str = ""               # a model folder; "" = <artifacts>/model (the candidate)
    splits: list[str] = field(default_factory=lambda: list(EVAL_SPLITS))
    max_docs: int = bounded(0, min=0)          # documents per split, 0 = all (a seeded sample)
    # Window advance when a document is longer than the context: each window scores only its
    # new tokens, so every token but the first window's has context - stride tokens before it.
    stride: int = bounded(0, min=0)            # 0 = half the context
    batch_size: int = bounded(16, min=1)       # windows (or task choices) per forward pass
    device: str = "auto"          # auto = cuda when available
    # Task files (JSONL of {"context", "choices", "label"}) and the built-in task.
    tasks: list[str] = field(default_factory=lambda: [BUILTIN_TASK])
    task_examples: int = bounded(300, min=1)   # built-in task: examples from the test split
    task_choices: int = bounded(4, min=2)      # built-in task: choices per example
    normalize: str = "bytes"      # choice log-likelihood per byte (or token, or raw sum)
    bootstrap: int = bounded(1000, min=0)      # resamples for the 95% intervals, 0 = none
    bias_templates: str = ""      # "" = the packaged set (training/evaluate/bias_templates.yaml)
    bias_examples: int = bounded(5, min=1)     # worst pairs shown per category
    seed: int = seed_field(0)

    def __post_init__(self) -> None:
        super().__post_init__()
        for split in self.splits:
            if split not in EVAL_SPLITS:
                raise ValueError(f"splits: each must be one of {', '.join(EVAL_SPLITS)}, "
                                 f"got {split!r}")
        if not self.splits:
            raise ValueError("splits: name at least one split")
        _one_of("device", self.device, DEVICES)
        _one_of("normalize", self.normalize, NORMALIZE)


@dataclass(frozen=True)
class PromoteConfig(Bounded):
    # Relative: 0.02 promotes a candidate whose validation perplexity is at most 2% above
    # the champion's (bits per byte when their tokenizers differ).
    tolerance: float = bounded(0.02, min=0)
    # Nats per token of the shared continuation: the largest mean gap between the terms of
    # any bias category a promoted model may show. 1.0 (one term makes the continuation
    # e times likelier per token) passes the demo's tiny model, whose gaps are mostly the
    # noise of rare words (0.2-0.5); tighten it for a model trained on real volumes.
    max_bias_gap: float = bounded(1.0, min=0)


@dataclass(frozen=True)
class ExportConfig(Bounded):
    format: str = "hf"            # hf: transformers' Llama layout, safetensors
    out: str = ""                 # "" = <artifacts>/hf
    model: str = ""               # a model folder; "" = the champion, else artifacts/model

    def __post_init__(self) -> None:
        super().__post_init__()
        _one_of("format", self.format, EXPORT_FORMATS)


def _one_of(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{key}: must be one of {', '.join(choices)}, got {value!r}")
