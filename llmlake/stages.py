"""The stage table: every pipeline stage, once, with the one name it goes by everywhere.

A stage's name is its folder (``<package>/<name>/``, whose ``stage.py`` holds
``run(params)``), its DVC stage in ``dvc.yaml`` and its CLI command (``_`` written as
``-`` on the command line, as CLI users expect). The console script builds its commands
from this table, the stage shell names the command that makes a missing input from it, and
a test holds it against ``dvc.yaml``, the CLI and the folders. ``llmlake`` imports stage
code only through :meth:`StageSpec.load`, when the command runs.

Example::

    >>> spec = stage_spec("export_shards")
    >>> spec.module, spec.command
    ('etl.export_shards.stage', 'llmlake etl export-shards')
    >>> maker_of("silver/documents").command
    'llmlake etl clean'
    >>> stage_spec("validate").command_for("gold")
    'llmlake validate gold'
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Option:
    """A convenience flag of one command that sets one params key (``--docs`` ->
    ``sample.docs``); everything else goes through ``--set``."""

    flag: str
    key: str
    type: type
    help: str


@dataclass(frozen=True)
class StageSpec:
    name: str
    package: str
    help: str
    # Lake tables (``bronze/documents``) and artifacts (``artifacts/tokenizer``) it writes:
    # a stage that finds one of them missing names this stage's command.
    makes: tuple[str, ...] = ()
    # CLI group the command sits under; "" puts it at the top level.
    group: str = "etl"
    # For a stage run once per item (``validate bronze``): the items, in pipeline order.
    items: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    # False for a command run on demand (``export``): it has no DVC stage.
    pipeline: bool = True
    # Base name of its metrics, timings and lineage files (``reports/<report>.json``);
    # "" = the stage's name.
    report: str = ""

    @property
    def module(self) -> str:
        return f"{self.package}.{self.name}.stage"

    @property
    def folder(self) -> str:
        return f"{self.package}/{self.name}"

    @property
    def cli_name(self) -> str:
        return self.name.replace("_", "-")

    @property
    def command(self) -> str:
        return " ".join(["llmlake", *([self.group] if self.group else []), self.cli_name])

    def command_for(self, item: str | None = None) -> str:
        return f"{self.command} {item}" if item else self.command

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


STAGES: tuple[StageSpec, ...] = (
    StageSpec(
        "sample", "etl",
        "Write the deterministic sample web crawl (WARC, WET, JSONL, Parquet + truth.jsonl).",
        makes=("data/raw/sample",), group="",
        options=(Option("--out", "sample.out", str, "Output folder (default: sample.out)."),
                 Option("--docs", "sample.docs", int, "Documents (default: sample.docs)."),
                 Option("--seed", "sample.seed", int, "Random seed (default: sample.seed).")),
    ),
    StageSpec("ingest", "etl", "Read raw corpora into the bronze/documents Delta table.",
              makes=("bronze/documents", "quarantine/records")),
    StageSpec("clean", "etl",
              "Extract, normalize, identify language, filter and redact: bronze to silver.",
              makes=("silver/documents",)),
    StageSpec("dedup", "etl",
              "Exact and MinHash near-duplicate removal, clusters and splits: silver to gold.",
              makes=("gold/documents", "gold/duplicates", "gold/minhash")),
    StageSpec("tokenizer", "etl", "Train the byte-level BPE tokenizer on the gold train split.",
              makes=("artifacts/tokenizer",)),
    StageSpec("tokenize", "etl",
              "Encode gold documents and pack them into gold/sequences of context + 1 tokens.",
              makes=("gold/sequences",)),
    StageSpec("export_shards", "etl",
              "Write gold/sequences as flat binary token shards for numpy/torch-only training.",
              makes=("artifacts/shards",)),
    StageSpec("train", "training",
              "Train the model on gold/sequences with Ray Train (CPU or GPU workers, resumable).",
              makes=("artifacts/model",), group=""),
    StageSpec("evaluate", "training",
              "Score artifacts/model on gold's val/test splits, tasks and bias probes.",
              group="", report="eval"),
    StageSpec("promote", "training",
              "Promote artifacts/model to champion if it beats the champion within the bounds.",
              makes=("artifacts/champion.json",), group="", report="promotion"),
    StageSpec("package", "serving",
              "Save the champion into the BentoML store and build the Bento.",
              makes=("artifacts/bentoml",), group="", report="bento"),
    StageSpec("export", "training",
              "Export a model (default: the champion) for other tools; --format hf.",
              group="", pipeline=False,
              options=(Option("--format", "export.format", str, "Format (default: hf)."),
                       Option("--out", "export.out", str,
                              "Output folder (default: export.out, else artifacts/hf)."),
                       Option("--model", "export.model", str,
                              "Model folder (default: the champion, else artifacts/model)."))),
    StageSpec("monitor", "monitoring",
              "Compare a new batch (raw files, or logged prompts) with the champion's data: "
              "Evidently drift report and verdict.",
              group="", report="drift",
              options=(Option("--current", "monitor.current", str,
                              "A folder of raw files, or 'requests' (default: monitor.current)."),
                       Option("--since", "monitor.since", str,
                              "requests: from this ISO date/time (inclusive)."),
                       Option("--until", "monitor.until", str,
                              "requests: up to this ISO date/time (exclusive)."))),
    StageSpec("retrain", "monitoring",
              "Act on reports/drift.json: register the batch with DVC, dvc repro with a warm "
              "start from the champion, promote, package.",
              group="", pipeline=False,
              options=(Option("--force", "retrain.force", bool,
                              "Retrain even without drift (or on an already handled report)."),)),
    StageSpec("feedback", "monitoring",
              "Export rated requests: good ones as a fine-tuning set, bad ones as an eval set.",
              group="", pipeline=False),
    StageSpec("augment", "training",
              "Write seeded, tagged, capped variants of a fine-tuning set or small corpus "
              "(EDA word edits, model paraphrases).",
              group="",
              options=(Option("--input", "augment.input", str,
                              "JSONL file or Delta table (default: augment.input)."),
                       Option("--out", "augment.out", str,
                              "A .jsonl file or a Delta table (default: augment.out)."))),
    StageSpec("finetune", "training",
              "Train a model further: continued pretraining on another sequences table, or "
              "supervised fine-tuning on prompt/response JSONL (loss on responses only).",
              makes=("artifacts/finetuned",), group="",
              options=(Option("--mode", "finetune.mode", str, "sft or continue."),
                       Option("--data", "finetune.data", str,
                              "sft: a JSONL file; continue: a gold/sequences table or lake root."),
                       Option("--model", "finetune.model", str,
                              "Start from this model or checkpoint folder (default: the "
                              "champion)."))),
    StageSpec("tune", "training",
              "Ray Tune search over the training function (grid or Optuna, ASHA): "
              "reports/tune.csv, reports/tune_best.json and a params overlay.",
              group="", report="tune_best",
              options=(Option("--search", "tune.search", str, "grid or bayes."),)),
    StageSpec("validate", "etl",
              "Validate a lake table with its Great Expectations suite (exit 1 on failure).",
              group="", items=("bronze", "silver", "gold", "sequences")),
    StageSpec("ablate", "training",
              "Train the same model on each data variant (raw, filtered, curated, one step "
              "off) for the same tokens; score them on the held-out test split.",
              group=""),
    StageSpec("report", "monitoring",
              "Write reports/index.html: the whole pipeline at a glance, from what the "
              "stages reported.",
              group=""),
)


def stage_spec(name: str) -> StageSpec:
    for spec in STAGES:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown stage {name!r}; stages: {', '.join(s.name for s in STAGES)}")


def maker_of(thing: str) -> StageSpec | None:
    """The stage that writes a lake table or artifact, if one does."""
    return next((s for s in STAGES if thing in s.makes), None)
