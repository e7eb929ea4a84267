"""Typed, strict configuration: one frozen dataclass per ``params.yaml`` section.

``load_params`` reads the YAML file, applies ``--set section.key=value`` overrides and
builds :class:`Params`. Unknown sections or keys, values of the wrong type, numbers outside
the range declared beside their field (:mod:`llmlake.bounds`) and a section
or key written twice in one mapping are rejected with a :class:`ConfigError` naming the key,
so a typo in ``params.yaml`` fails loudly at load instead of silently falling back to a
default or failing later in Spark.

Example::

    >>> from llmlake.config import load_params
    >>> p = load_params("params.yaml", overrides=["sample.docs=200"])
    >>> p.sample.docs
    200
    >>> load_params("params.yaml", overrides=["dedup.bands=0"])
    Traceback (most recent call last):
    ...
    llmlake.config.ConfigError: dedup.bands: must be at least 1, got 0
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmlake.bounds import Bounded, bounded, fraction, interval_hours, seed_field
from llmlake.config_ablate import AblateConfig
from llmlake.config_clean import CleanConfig
from llmlake.config_eval import EvaluateConfig, ExportConfig, PromoteConfig
from llmlake.config_finetune import AugmentConfig, FinetuneConfig, TuneConfig
from llmlake.config_monitor import MonitorConfig, RetrainConfig
from llmlake.config_sample import SampleConfig
from llmlake.config_serve import PackageConfig, ServeConfig
from llmlake.config_train import ModelParams, RayConfig, TrainConfig


class ConfigError(ValueError):
    """A params file or override that does not match the schema."""


@dataclass(frozen=True)
class LakeConfig(Bounded):
    root: str = "lake"
    reports: str = "reports"
    artifacts: str = "artifacts"
    # Set on every lake table (llmlake/tables.py, `llmlake lake optimize|vacuum`): how long
    # the Delta log keeps a version readable, and how long removed files stay listed in it.
    log_retention: str = "interval 365 days"
    deleted_file_retention: str = "interval 7 days"
    # `llmlake lake vacuum`: default retention, and the slack added to the retention that
    # lineage pins need (writer clocks differ, and time passes before Spark's cutoff).
    vacuum_retention_hours: float = bounded(168.0, min=0)
    vacuum_margin_hours: float = bounded(1.0, min=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("log_retention", "deleted_file_retention"):
            try:
                interval_hours(getattr(self, key))
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        if interval_hours(self.log_retention) < interval_hours(self.deleted_file_retention):
            raise ValueError(f"log_retention: must be at least deleted_file_retention "
                             f"({self.deleted_file_retention}), got {self.log_retention}")


@dataclass(frozen=True)
class SparkConfig(Bounded):
    master: str = "local[*]"
    app_name: str = "llmlake"
    driver_memory: str = "4g"
    shuffle_partitions: int = bounded(8, min=1)
    ui: bool = False
    log_level: str = "WARN"
    # Extra ``spark.*`` settings passed through unchanged (e.g. S3 credentials providers).
    conf: dict[str, str] = field(default_factory=dict)




@dataclass(frozen=True)
class IngestConfig(Bounded):
    sources: list[str] = field(default_factory=lambda: [
        "data/raw/sample/warc", "data/raw/sample/wet", "data/raw/sample/jsonl",
        "data/raw/sample/parquet",
    ])
    # Field names in JSONL objects and Parquet columns.
    text_field: str = "text"
    id_field: str = "id"
    url_field: str = "url"
    time_field: str = "fetched_at"
    # Records larger than this are quarantined instead of written (protects the workers).
    max_record_bytes: int = bounded(4_000_000, min=1)
    # Records per Arrow batch handed back from the Python parser to the JVM.
    batch_rows: int = bounded(2000, min=1)
    # Characters of a quarantined record's payload kept for inspection (0 keeps none).
    payload_chars: int = bounded(2000, min=0)


@dataclass(frozen=True)
class DedupConfig(Bounded):
    ngram: int = bounded(5, min=1)  # word n-gram shingles
    # LSH bands x rows = MinHash permutations (FineWeb: 14 x 8)
    bands: int = bounded(14, min=1)
    rows: int = bounded(8, min=1)
    seed: int = seed_field(1)
    verify: bool = True  # check candidate pairs' exact Jaccard against threshold
    threshold: float = bounded(0.7, above=0, max=1)  # Jaccard similarity, in (0, 1]
    url_dedup: bool = False  # also treat documents with the same normalized URL as copies
    train: float = fraction(0.90)  # split ratios, by hash of the survivor's doc_id
    val: float = fraction(0.05)
    test: float = fraction(0.05)

    def __post_init__(self) -> None:
        super().__post_init__()
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"train + val + test must be 1, got {total}")


@dataclass(frozen=True)
class TokenizerConfig(Bounded):
    # 256 byte tokens + special tokens + merges; 8192 is a demo size, 32k-50k suits a corpus.
    vocab_size: int = bounded(8192, min=512)
    # Train-split documents streamed into BPE training.
    sample_docs: int = bounded(50_000, min=1)
    # A pair must occur this often to be merged (0 would mean the same as 1).
    min_frequency: int = bounded(2, min=1)
    eval_docs: int = bounded(5_000, min=1)  # val-split documents measured for the report
    seed: int = seed_field(0)  # which documents the sample takes
    # A model (or tokenizer) folder whose tokenizer.json is kept instead of learning a new
    # one: a warm-started retrain must read its parent's token ids. "" = learn one.
    reuse: str = ""


REMAINDERS = ("drop", "pad")


@dataclass(frozen=True)
class TokenizeConfig(Bounded):
    # Documents per Arrow batch and encode_batch call.
    batch_docs: int = bounded(256, min=1)
    # The last, short sequence of each split: "drop" it (its tokens are counted in the
    # report) or "pad" it to full length with <|pad|>.
    remainder: str = "drop"
    seed: int = seed_field(0)  # deterministic shuffle of documents and sequences

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.remainder not in REMAINDERS:
            raise ValueError(f"remainder must be one of {', '.join(REMAINDERS)}, "
                             f"got {self.remainder!r}")


@dataclass(frozen=True)
class ValidateConfig(Bounded):
    # Least rows each table must hold (0 turns the row-count check off).
    bronze_min_rows: int = bounded(100, min=0)
    content_types: list[str] = field(default_factory=lambda: ["text/html", "text/plain"])
    silver_min_rows: int = bounded(100, min=0)  # silver/documents rows, kept and dropped
    silver_min_kept: int = bounded(1, min=0)  # silver/documents rows with drop_reason NULL
    gold_min_rows: int = bounded(100, min=0)  # gold/documents rows (dedup survivors)
    # gold/sequences rows (packed training sequences)
    sequences_min_rows: int = bounded(10, min=0)
    # Largest allowed gap between a split's share of gold rows and its dedup ratio
    # (absolute: 0.05 lets a 0.90 train split hold 85% to 95% of the rows).
    split_tolerance: float = fraction(0.05)


@dataclass(frozen=True)
class Params(Bounded):
    lake: LakeConfig = field(default_factory=LakeConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    model: ModelParams = field(default_factory=ModelParams)
    train: TrainConfig = field(default_factory=TrainConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    promote: PromoteConfig = field(default_factory=PromoteConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    package: PackageConfig = field(default_factory=PackageConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)
    ablate: AblateConfig = field(default_factory=AblateConfig)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted where floats are."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None) and value is None:
                return None
        for arg in typing.get_args(tp):
            if arg is not type(None):
                try:
                    return _coerce(key, value, arg)
                except ConfigError:
                    pass
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list of {_type_name(item)}, got {value!r}")
        return [_coerce(f"{key}[{i}]", v, item) for i, v in enumerate(value)]
    if origin is dict:
        kt, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {_coerce(key, k, kt): _coerce(f"{key}.{k}", v, vt) for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")
    if not isinstance(value, tp):
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    return value


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix}: expected a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"{prefix}.{unknown[0]}: unknown key (known keys: {known})".lstrip("."))
    kwargs = {}
    for name, value in raw.items():
        tp = hints[name]
        key = f"{prefix}.{name}".lstrip(".")
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, key)
        else:
            kwargs[name] = _coerce(key, value, tp)
    try:  # Bounded.__post_init__ checks the bounds before any cross-field check
        return cls(**kwargs)
    except ValueError as exc:  # out of bounds, or a dataclass's own check (__post_init__)
        raise ConfigError(f"{prefix}.{exc}".lstrip(".") if prefix else str(exc)) from exc


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that rejects a mapping key given twice (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *anchor" overrides on purpose
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = first_line.get(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if first is not None:
                raise ConfigError(f"duplicate key {key!r} at line {line} (first at line {first})")
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def _yaml_load(text: str) -> Any:
    # A SafeLoader subclass: plain data only, like yaml.safe_load.
    return yaml.load(text, Loader=_UniqueKeyLoader)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``section.key=value`` into the key path and a YAML-typed value."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected section.key=value")
    key, _, raw = text.partition("=")
    path = [p for p in key.strip().split(".") if p]
    if len(path) < 2:
        raise ConfigError(f"--set {text!r}: key must be section.key")
    try:
        value = _yaml_load(raw) if raw.strip() else ""
    except ConfigError as exc:
        raise ConfigError(f"--set {key}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value is not valid YAML ({exc})") from exc
    return path, value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text!r}: {part} is not a section")
        node[path[-1]] = value
    return raw


def params_from_dict(raw: dict[str, Any]) -> Params:
    return _build(Params, raw, "")


def load_params(path: str | Path = "params.yaml", overrides: list[str] | None = None,
                overlays: list[str | Path] | tuple[str | Path, ...] = ()) -> Params:
    """Read ``path`` (missing file means all defaults), merge each overlay file over it (the
    keys an overlay names replace the base's, key by key: ``llmlake tune`` writes one),
    apply overrides, validate."""
    raw = _read_file(Path(path), required=str(path) != "params.yaml")
    for overlay in overlays:
        raw = merge_params(raw, _read_file(Path(overlay), required=True))
    return params_from_dict(apply_overrides(raw, list(overrides or [])))


def _read_file(path: Path, required: bool) -> dict[str, Any]:
    raw: Any = {}
    if path.exists():
        try:
            raw = _yaml_load(path.read_text()) or {}
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    elif required:
        raise ConfigError(f"{path}: params file not found")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections")
    return raw


def merge_params(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` over ``base``: mappings merge key by key, any other value replaces.

    >>> merge_params({"train": {"lr": 0.1, "seed": 0}}, {"train": {"lr": 0.2}})
    {'train': {'lr': 0.2, 'seed': 0}}
    """
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_params(out[key], value)
        else:
            out[key] = value
    return out


def as_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def fingerprint(data: Any) -> str:
    """Short stable hash of params (a dataclass, or JSON-able data holding them as dicts).

    Stages store it beside what they built, so that a rerun under the same params can skip
    work and a change redoes it.

    >>> fingerprint({"b": 1, "a": [2]}) == fingerprint({"a": [2], "b": 1})
    True
    """
    if dataclasses.is_dataclass(data):
        data = dataclasses.asdict(data)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
