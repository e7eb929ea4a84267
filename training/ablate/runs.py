"""One ablation run: a variant's documents, tokenized and packed, trained for the token
budget, then scored on the held-out test split and the next-sentence task.

Every run of every variant shares the tokenizer, the model config, the loop settings
(:func:`loop_config`: ``ablate.batch_size`` sequences of ``train.context + 1`` tokens per
step, as many steps as the budget buys) and the seed, so the data is the only difference.
:func:`sample_sequences` shuffles the variant's documents with the run's seed and packs
them, joined by end-of-text, into sequences until the budget is covered: a uniform sample
of the variant, and no tokenizing of documents the run would never see. A variant smaller
than the budget is trained on all of it, repeated (``epochs`` > 1).

:func:`score_run` keeps each test document's summed loss, so :mod:`training.ablate.signals`
can compare two variants document by document.

A finished run is kept in ``artifacts/ablate/<key>.npz`` (:func:`cached`), keyed by
everything that decides it, so a stopped ablation resumes at the run it was in and gives
what an uninterrupted one gives.

Imports torch and numpy only (and the tokenizer it is given).

Example::

    >>> from tokenizers import Tokenizer, models
    >>> tok = Tokenizer(models.WordLevel({"a": 0, "b": 1, "<eos>": 2}, unk_token="a"))
    >>> from tokenizers.pre_tokenizers import Whitespace
    >>> tok.pre_tokenizer = Whitespace()
    >>> seqs, info = sample_sequences({"d1": "a b a", "d2": "b b"}, tok, eos_id=2,
    ...                               seq_len=3, count=2, seed=0)
    >>> seqs.shape, info["documents_used"], info["epochs"]
    ((2, 3), 2, 1.0)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from llmlake.config_ablate import AblateConfig
from llmlake.config_train import TrainConfig

ENCODE_BATCH = 256  # documents per encode call


def loop_config(train: TrainConfig, cfg: AblateConfig, seed: int) -> TrainConfig:
    """The loop settings every variant shares; only ``seed`` differs between repeats."""
    steps = steps_for(cfg.tokens, cfg.batch_size, train.context)
    return replace(train, batch_size=cfg.batch_size, grad_accum=1, max_steps=steps,
                   warmup_steps=max(1, steps // 10), lr=cfg.lr, eval_every=steps,
                   eval_batches=2, log_every=max(1, steps // 10), checkpoint_every=steps,
                   seed=seed, compile=False, num_workers=1, warm_start="")


def steps_for(tokens: int, batch_size: int, context: int) -> int:
    """Optimizer steps that train on at least ``tokens`` tokens."""
    return max(1, math.ceil(tokens / (batch_size * context)))


def sample_sequences(docs: Mapping[str, str], tok: Any, eos_id: int, seq_len: int,
                     count: int, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """``count`` sequences of ``seq_len`` tokens from ``docs`` in a seeded order (each
    document's tokens then end-of-text), repeating the variant when it is too small."""
    ids = sorted(docs)
    order = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]
    need, parts, have, used = count * seq_len, [], 0, 0
    for start in range(0, len(order), ENCODE_BATCH):
        if have >= need:
            break
        chunk = order[start:start + ENCODE_BATCH]
        for enc in tok.encode_batch_fast([docs[d] for d in chunk], add_special_tokens=False):
            parts.append(np.array([*enc.ids, eos_id], dtype=np.int32))
            have, used = have + len(parts[-1]), used + 1
            if have >= need:
                break
    if not have:
        raise ValueError("the variant has no documents to train on")
    tokens = np.concatenate(parts)[:need]  # int32: a 10^8-token budget is 400 MB, not 3 GB
    whole = max(1, len(tokens) // seq_len)
    epochs = 1.0 if have >= need else round(count / whole, 3)
    tiled = np.resize(tokens[:whole * seq_len], need)  # repeats a too-small variant
    return tiled.reshape(count, seq_len), {
        "documents_used": used, "tokens_sampled": have, "epochs": epochs}


@dataclass
class HeldOut:
    """What every run is scored on: the test documents' windows, and the task."""

    items: list[Any]            # score.Item windows of the test documents
    owners: np.ndarray          # the document each window scores
    nbytes: np.ndarray          # UTF-8 bytes of each test document
    examples: list[Any]         # tasks.Example of the next-sentence task
    val: np.ndarray             # gold's val split, packed: the loop's validation slice

    def fingerprint(self) -> str:
        """Equal for the same windows, bytes, task and validation slice."""
        import hashlib

        h = hashlib.sha256()
        for item in self.items:
            h.update(np.asarray(item.ids, dtype=np.int64).tobytes() + bytes([item.first % 256]))
        for part in (self.owners, self.nbytes, self.val):
            h.update(np.ascontiguousarray(part).tobytes())
        h.update(repr([(ex.context, ex.choices, ex.label) for ex in self.examples]).encode())
        return h.hexdigest()[:16]


def train_run(model_cfg: Any, loop_cfg: TrainConfig, seqs: np.ndarray, held: HeldOut,
              pad_id: int, device: str) -> tuple[Any, dict[str, Any]]:
    """Train one model on ``seqs``; returns it and its last losses."""
    from training.data import Sequences
    from training.train.loop import Loop, Worker

    started = time.monotonic()
    loop = Loop(model_cfg, loop_cfg, Sequences(seqs), Sequences(held.val), pad_id,
                worker=Worker(device=device))
    state = loop.run(report=lambda state, save: None)
    last = [r for r in state.log if r.get("val_loss") not in ("", None)]
    return loop.model.eval(), {
        "steps": state.step, "params": loop.model.num_params(),
        "train_loss": _last(state.log, "train_loss"),
        "val_loss": last[-1]["val_loss"] if last else None,
        "train_seconds": round(time.monotonic() - started, 2)}


def _last(log: Sequence[Mapping[str, Any]], key: str) -> float | None:
    values = [r[key] for r in log if r.get(key) not in ("", None)]
    return float(values[-1]) if values else None


def score_run(model: Any, tok: Any, held: HeldOut, batch_size: int, normalize: str,
              device: str) -> dict[str, Any]:
    """Per test document: summed loss (nats) and tokens; per task example: the pick."""
    from training.evaluate.score import score
    from training.evaluate.tasks import score_task

    scores = score(model, held.items, batch_size, device)
    per_doc = np.zeros((len(held.nbytes), 2))
    np.add.at(per_doc, held.owners, np.stack([scores.nll, scores.tokens], axis=1))
    pred = np.zeros(0, dtype=np.int64)
    if held.examples:
        pred, _ = score_task(model, tok, held.examples, normalize, batch_size, device)
    return {"doc_nll": per_doc[:, 0], "doc_tokens": per_doc[:, 1], "task_pred": pred}


ARRAYS = ("doc_nll", "doc_tokens", "task_pred")


def cached(folder: Path, key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``compute()``'s run record, or the one a previous call with ``key`` saved."""
    path = folder / f"{key}.npz"
    if path.exists():
        with np.load(path) as saved:
            return {**json.loads(str(saved["facts"])), **{k: saved[k] for k in ARRAYS}}
    record = compute()
    folder.mkdir(parents=True, exist_ok=True)
    facts = {k: v for k, v in record.items() if k not in ARRAYS}
    partial = path.with_suffix(".partial.npz")  # renamed when whole: a kill leaves no half file
    np.savez(partial, facts=json.dumps(facts), **{k: record[k] for k in ARRAYS})
    partial.replace(path)
    return record
