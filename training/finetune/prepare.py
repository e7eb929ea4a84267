"""The driver's half of a fine-tuning run: the data read, checked and written as the arrays
the Ray Train workers memory-map (``data: arrays``, :func:`training.data.array_split`).

Both modes write ``<artifacts>/finetune-data/<data hash>/``: ``train.tokens.npy`` and
``val.tokens.npy`` (uint32, N x (context + 1)) and, for ``sft``, ``train.mask.npy`` and
``val.mask.npy`` (True where a token is a target). The hash covers everything that decides
the rows (the data's sha256 or table version, the tokenizer, the template, the layout,
the split), so a rerun of a stopped run trains on the very rows it started with. The
folder is written whole or not at all.

* ``sft`` (:func:`prepare_sft`): the JSONL file parsed (:mod:`training.finetune.sft`),
  malformed lines logged with their numbers, the go/no-go taken on their share before any
  work, the examples encoded, split by example and laid out;
* ``continue`` (:func:`prepare_continue`): the table located, its tokenizer checked, its
  rows copied (:mod:`training.finetune.corpus`).

Example::

    >>> from llmlake.config_finetune import FinetuneConfig
    >>> prepare_sft(FinetuneConfig(data="no/such.jsonl"), None, 33, "artifacts")
    Traceback (most recent call last):
    ...
    llmlake.stage.StageError: finetune.data: no/such.jsonl is not a file (sft reads a JSONL file of prompt/response pairs or chat messages)
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmlake.config import fingerprint
from llmlake.config_finetune import FinetuneConfig
from llmlake.lake import building_dir
from llmlake.log import get_logger
from llmlake.stage import StageError
from llmlake.tokenizer import EOS, PAD, file_hash
from training.finetune.parent import Parent

log = get_logger(__name__)


@dataclass
class Prepared:
    """What the run trains on: the arrays' folder, rows per split, what the lineage names
    as the data (``data``, the run name's data id too), and the figures for the report."""

    folder: Path
    counts: dict[str, int]
    data: dict[str, Any]
    stats: dict[str, Any]
    val_examples: list[Any] = field(default_factory=list)  # sft: Encoded, for exact match


def _folder(artifacts: str | Path, key: dict[str, Any]) -> Path:
    """The arrays' folder, named by what decides them; the folders of earlier data are
    removed (only the latest run's data is kept, as a rerun after a crash needs it)."""
    root = Path(artifacts) / "finetune-data"
    folder = root / fingerprint(key)
    if root.is_dir():
        for old in root.iterdir():
            if old.is_dir() and old.name != folder.name:
                shutil.rmtree(old, ignore_errors=True)
    return folder


def _specials(parent: Parent) -> tuple[Any, int, int]:
    from llmlake.tokenizer import load

    tok = load(parent.tokenizer)
    return tok, tok.token_to_id(EOS), tok.token_to_id(PAD)


def _bad_lines_error(path: Path, signals: dict[str, Any], decision: str) -> StageError:
    first = ", ".join(str(b["line"]) for b in signals["first_bad"])
    if decision == "no_examples":
        return StageError(f"finetune.data: {path} holds no valid example ({signals['bad']} "
                          f"malformed lines{', first at ' + first if first else ''})")
    return StageError(
        f"finetune.max_bad_fraction: {signals['bad']} of {signals['lines']} lines of {path} "
        f"are malformed ({signals['bad_fraction']:.1%} > {signals['max_bad_fraction']:.1%}); "
        f"first at lines {first}: fix them or raise the limit")


def read_checked(path: Path, cfg: FinetuneConfig) -> tuple[list[Any], dict[str, Any]]:
    """The file's examples and its bad-line figures; too many bad lines is a StageError."""
    from training.finetune.sft import read_examples, sft_reason, sft_signals

    examples, bad = read_examples(path)
    for b in bad:
        log.warning("finetune: %s line %d skipped: %s", path, b.line, b.reason)
    signals = sft_signals(len(examples), bad, cfg.max_bad_fraction)
    decision = sft_reason(signals)
    if decision != "train":
        raise _bad_lines_error(path, signals, decision)
    return examples, signals


def row_length(encoded: list[Any], seq_len: int, pack: bool) -> int:
    """Tokens per row: ``seq_len`` (context + 1) when packing; padded, one example a row,
    the longest example's length (at most ``seq_len``), so no step computes on padding
    that no row needs. The model takes any length up to its context."""
    if pack or not encoded:
        return seq_len
    return max(2, min(seq_len, max(len(e.ids) for e in encoded)))


def prepare_sft(cfg: FinetuneConfig, parent: Parent, seq_len: int,
                artifacts: str | Path) -> Prepared:
    from training.finetune.sft import layout, split_examples
    from training.finetune.template import encode, template

    path = Path(cfg.data)
    if not path.is_file():
        raise StageError(f"finetune.data: {path} is not a file (sft reads a JSONL file of "
                         "prompt/response pairs or chat messages)")
    try:
        tpl = template(cfg.template)
    except ValueError as exc:
        raise StageError(str(exc)) from exc
    examples, signals = read_checked(path, cfg)
    tok, eos_id, pad_id = _specials(parent)
    encoded = [encode(tok, ex.turns, tpl, eos_id) for ex in examples]
    train_idx, val_idx, left_out = split_examples(examples, cfg.val_fraction, cfg.seed)
    row = row_length(encoded, seq_len, cfg.pack)
    train = layout([encoded[i] for i in train_idx], row, pad_id, cfg.pack)
    val_examples = [encoded[i] for i in val_idx]
    val = layout(val_examples, row, pad_id, cfg.pack) if val_examples else train
    if train.stats["rows"] == 0 or val.stats["rows"] == 0:
        raise StageError(f"finetune.data: no example of {path} keeps a response token within "
                         f"the model's context of {seq_len - 1} tokens")
    data = {"mode": "sft", "path": str(path), "sha256": file_hash(path),
            "tokenizer": parent.tok_hash, "template": cfg.template, "pack": cfg.pack,
            "val_fraction": cfg.val_fraction, "seed": cfg.seed, "seq_len": seq_len,
            "row_len": row}
    folder = _folder(artifacts, data)
    _write(folder, {"train": (train.tokens, train.mask), "val": (val.tokens, val.mask)})
    stats = {"examples": {"train": train.stats["examples"],
                          "val": val.stats["examples"] if val_examples else 0},
             "rows": {"train": train.stats["rows"], "val": val.stats["rows"]},
             "bad_lines": {"count": signals["bad"], "lines": signals["lines"],
                           "first": signals["first_bad"]},
             "truncated": train.stats["truncated"] + (val.stats["truncated"] if val_examples
                                                      else 0),
             "dropped": train.stats["dropped"] + (val.stats["dropped"] if val_examples else 0),
             "target_share": round(train.stats["targets"] / max(train.stats["tokens"], 1), 4),
             "val_from": "held_out" if val_examples else "train",
             "val_variants_left_out": left_out}
    return Prepared(folder, {s: stats["rows"][s] for s in ("train", "val")}, data, stats,
                    val_examples)


def prepare_continue(cfg: FinetuneConfig, parent: Parent, seq_len: int,
                     artifacts: str | Path, reports: str) -> Prepared:
    from training.finetune.corpus import check_tokenizer, locate, write_corpus

    corpus = locate(cfg.data, reports)
    check_tokenizer(corpus, parent.tok_hash, parent.tokenizer)
    _, _, pad_id = _specials(parent)
    data = {"mode": "continue", **corpus.data_id(), "model_tokenizer": parent.tok_hash,
            "val_fraction": cfg.val_fraction, "seed": cfg.seed, "seq_len": seq_len}
    folder = _folder(artifacts, data)
    with building_dir(folder) as tmp:
        found = write_corpus(corpus, tmp, seq_len, parent.config["vocab_size"], pad_id,
                             cfg.val_fraction, cfg.seed)
    splits = found["splits"]
    stats = {"examples": {s: splits[s]["rows"] for s in splits},
             "rows": {s: splits[s]["rows"] for s in splits},
             "bad_lines": {"count": 0, "lines": 0, "first": []}, "truncated": 0, "dropped": 0,
             "target_share": round(splits["train"]["tokens"]
                                   / max(splits["train"]["rows"] * seq_len, 1), 4),
             "val_from": found["val_from"], "table_seq_len": found["table_seq_len"]}
    return Prepared(folder, dict(stats["rows"]), data, stats)


def _write(folder: Path, splits: dict[str, tuple[Any, Any]]) -> None:
    from training.data import write_arrays

    with building_dir(folder) as tmp:
        for split, (tokens, mask) in splits.items():
            write_arrays(tmp, split, tokens, mask)


def describe(prepared: Prepared) -> str:
    """One log line about the data."""
    s = prepared.stats
    return (f"{prepared.data['mode']}: {s['examples']['train']} train / "
            f"{s['examples']['val']} val examples in {s['rows']['train']} / {s['rows']['val']} "
            f"rows, {s['bad_lines']['count']} bad lines, {s['truncated']} truncated, "
            f"{s['dropped']} dropped (no answer token within the context), "
            f"target share {s['target_share']:.0%}")
