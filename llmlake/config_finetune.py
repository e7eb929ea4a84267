"""Typed schema of the sections that adapt a trained model: ``finetune``, ``augment``, ``tune``.

``finetune`` starts from a model folder (the champion by default) or a training checkpoint
and trains it further with its own schedule: ``mode: continue`` on another ``gold/sequences``
table (a domain corpus run through the same ETL into its own lake root, with
``tokenizer.reuse`` pointing at the model so the ids match), ``mode: sft`` on a JSONL file of
prompt/response pairs or chat messages, with the loss on the response tokens only. Every
knob not here (betas, clipping, dtype, checkpoints, failures) is the ``train`` section's.

``augment`` writes tagged, capped, seeded variants of a fine-tuning set or a small corpus:
EDA's four word edits (Wei & Zou 2019) with synonyms mined from the model's embeddings, from
co-occurrence or read from a file, and paraphrases sampled from the model.

``tune`` is the Ray Tune search over the training function: a grid, or Optuna's TPE over
ranges, with ASHA stopping poor trials early, inside a budget of trials and seconds.

Example::

    >>> FinetuneConfig(mode="lora")
    Traceback (most recent call last):
    ...
    ValueError: mode: must be one of sft, continue, got 'lora'
    >>> TuneConfig(ranges={"train.momentum": [0.1, 0.9]})
    Traceback (most recent call last):
    ...
    ValueError: ranges: train.momentum is not searchable; keys: train.lr, train.warmup_steps, train.weight_decay, train.batch_size, model.n_layer, model.n_embd
    >>> AugmentConfig(methods=["swap", "rot13"])
    Traceback (most recent call last):
    ...
    ValueError: methods: rot13 is not a method; methods: synonym, insert, swap, delete, paraphrase
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmlake.bounds import Bounded, bounded, fraction, seed_field

MODES = ("sft", "continue")
METHODS = ("synonym", "insert", "swap", "delete", "paraphrase")
SYNONYM_SOURCES = ("embedding", "cooccurrence", "file")
SEARCHES = ("grid", "bayes")
# What a trial may change: the loop's schedule and batch, and the network's depth and width.
SEARCHABLE = ("train.lr", "train.warmup_steps", "train.weight_decay", "train.batch_size",
              "model.n_layer", "model.n_embd")


def _one_of(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{key}: must be one of {', '.join(choices)}, got {value!r}")


@dataclass(frozen=True)
class FinetuneConfig(Bounded):
    mode: str = "sft"             # sft (prompt/response, chat) | continue (more pretraining)
    # The starting point: "" = the champion (artifacts/champion.json), else artifacts/model;
    # or a model folder, or a checkpoint folder of a train run.
    model: str = ""
    # sft: a JSONL file; continue: a gold/sequences table, or a lake root holding one.
    data: str = "data/augmented/sft.jsonl"
    out: str = ""                 # the new model folder; "" = <artifacts>/finetuned
    template: str = "plain"       # the prompt template (training/finetune: TEMPLATES)
    # sft: one example a row, padded; true packs rows full (no compute on padding, but an
    # example then attends to the ones before it, which it never sees when served).
    pack: bool = False
    val_fraction: float = bounded(0.1, min=0, max=0.5)  # sft / continue without a val split
    max_bad_fraction: float = fraction(0.05)  # more malformed lines than this stops the run
    # Its own schedule: fine-tuning wants a lower peak and fewer steps than pretraining.
    lr: float = bounded(1e-3, above=0)
    min_lr_ratio: float = fraction(0.1)
    warmup_steps: int = bounded(10, min=0)
    max_steps: int = bounded(100, min=1)
    weight_decay: float = bounded(0.0, min=0)
    batch_size: int = bounded(8, min=1)   # sequences per worker per step
    eval_every: int = bounded(20, min=1)
    num_workers: int = bounded(1, min=1)  # a fine-tuning set is small: one worker is enough
    seed: int = seed_field(0)

    def __post_init__(self) -> None:
        super().__post_init__()
        _one_of("mode", self.mode, MODES)
        if not self.data:
            raise ValueError("data: must name a JSONL file (sft) or a sequences table (continue)")


@dataclass(frozen=True)
class AugmentConfig(Bounded):
    # A JSONL file (prompt/response, messages, or text rows) or a Delta table with a text column.
    input: str = "data/raw/sft.jsonl"
    # A .jsonl file, or a Delta table ("" = <lake>/gold/augmented).
    out: str = "data/augmented/sft.jsonl"
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    copies: int = bounded(1, min=1)       # variants per row and method, before the cap
    max_share: float = bounded(0.5, min=0, max=0.95)  # augmented rows / all rows written
    alpha: float = bounded(0.1, above=0, max=0.5)     # EDA: share of a text's words edited
    synonyms: str = "embedding"   # embedding (the model's) | cooccurrence | file
    synonyms_file: str = ""       # synonyms: file -> TSV or JSON, word -> synonyms
    neighbours: int = bounded(5, min=1)           # synonyms kept per word
    min_similarity: float = bounded(0.3, min=-1, max=1)  # cosine floor for a mined synonym
    model: str = ""               # embeddings and paraphrases: "" = the champion, else artifacts/model
    temperature: float = bounded(0.8, above=0)    # paraphrase sampling
    keep: float = bounded(0.5, above=0, max=1)    # paraphrase: share of words kept as its start
    seed: int = seed_field(0)

    def __post_init__(self) -> None:
        super().__post_init__()
        for method in self.methods:
            if method not in METHODS:
                raise ValueError(f"methods: {method} is not a method; methods: "
                                 f"{', '.join(METHODS)}")
        if not self.methods:
            raise ValueError("methods: name at least one method")
        _one_of("synonyms", self.synonyms, SYNONYM_SOURCES)
        if self.synonyms == "file" and not self.synonyms_file:
            raise ValueError("synonyms_file: synonyms: file needs a file of synonyms")


@dataclass(frozen=True)
class TuneConfig(Bounded):
    search: str = "bayes"         # grid (every combination) | bayes (Optuna TPE on ranges)
    trials: int = bounded(6, min=1)         # bayes: trials run; grid: the grid may not exceed it
    time_budget_s: float = bounded(900, above=0)  # the search ends here, running trials too
    max_steps: int = bounded(60, min=1)     # optimizer steps of a trial that is not stopped
    eval_every: int = bounded(10, min=1)    # a trial reports its val loss this often
    asha: bool = True             # stop trials that trail at a rung (Li et al. 2018)
    grace_period: int = bounded(20, min=1)  # steps before ASHA may stop a trial
    reduction_factor: int = bounded(2, min=2)
    concurrent: int = bounded(2, min=1)     # trials at once (one CPU each)
    seed: int = seed_field(0)
    # grid: key -> values; bayes: key -> [low, high] (log scale for train.lr).
    grid: dict[str, list[float]] = field(default_factory=lambda: {
        "train.lr": [0.001, 0.003, 0.01], "model.n_layer": [2, 4]})
    ranges: dict[str, list[float]] = field(default_factory=lambda: {
        "train.lr": [0.0003, 0.03], "train.warmup_steps": [0, 30],
        "train.weight_decay": [0.0, 0.2], "model.n_layer": [1, 4]})
    params_out: str = ""          # the best values as a params overlay; "" = <reports>/tune_best.yaml

    def __post_init__(self) -> None:
        super().__post_init__()
        _one_of("search", self.search, SEARCHES)
        for name, space in (("grid", self.grid), ("ranges", self.ranges)):
            for key, values in space.items():
                if key not in SEARCHABLE:
                    raise ValueError(f"{name}: {key} is not searchable; keys: "
                                     f"{', '.join(SEARCHABLE)}")
                if not values:
                    raise ValueError(f"{name}.{key}: must list at least one value")
        for key, bounds in self.ranges.items():
            if len(bounds) != 2 or bounds[0] > bounds[1]:
                raise ValueError(f"ranges.{key}: must be [low, high], got {bounds}")
        space = self.grid if self.search == "grid" else self.ranges
        if not space:
            raise ValueError(f"{'grid' if self.search == 'grid' else 'ranges'}: "
                             f"search: {self.search} needs at least one key")
