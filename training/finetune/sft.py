"""Supervised fine-tuning data: JSONL lines to masked training rows.

Each line of ``finetune.data`` is a JSON object, either a pair or a chat:

* ``{"prompt": "...", "response": "..."}`` (``llmlake feedback``'s ``sft.jsonl`` adds
  ``request_id``, ``rating`` and ``model``: keys other than the ones read are ignored);
* ``{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}`` with at
  least one assistant turn.

A line that is none of these (not JSON, not an object, a missing, empty or non-string
field, an unknown role, a chat with no assistant turn) is a :class:`BadLine`: its number
and reason are reported and the line skipped; :func:`sft_signals` and :func:`sft_reason`
decide whether there are too many to train on (``finetune.max_bad_fraction``). Blank lines
are no examples and no errors.

Examples are encoded with the model's tokenizer and a template
(:mod:`training.finetune.template`), split into train and val by example (seeded), and
laid out in rows of ``context + 1`` tokens by :func:`layout`: *packed*, examples
concatenated into a row while they fit (an example is never split across rows), or
*padded*, one example a row. An example longer than a row is cut to the row and counted as
truncated; one left with no target token (its prompt fills the row) is dropped and
counted. Padding is never a target.

Packing wastes no compute on padding, but an example can attend to the examples before it
in its row (the model has no per-example attention mask), and on a small set a model may
learn to lean on them, answering worse when a prompt comes alone, as it does when served;
``pack: false`` trains every example alone, exactly as it is asked.

Example::

    >>> parse_line('{"prompt": "2+2?", "response": "4", "rating": 1}')
    [('user', '2+2?'), ('assistant', '4')]
    >>> parse_line('{"messages": [{"role": "user", "content": "hi"}]}')
    'messages: no assistant turn'
    >>> rows = layout([Encoded(np.array([7, 8, 9]), np.array([False, True, True]), 1)] * 3,
    ...               seq_len=7, pad_id=1, pack=True)
    >>> rows.tokens.tolist(), rows.stats["rows"]
    ([[7, 8, 9, 7, 8, 9, 1], [7, 8, 9, 1, 1, 1, 1]], 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.finetune.template import ROLES, Encoded, Turn

FIRST_BAD = 10  # bad lines listed in reports and errors


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str


@dataclass(frozen=True)
class Example:
    line: int
    turns: list[Turn]
    # The example and its augmented variants share a group (``parent_id``, else ``id``, else
    # the line): the split keeps a group on one side, so no variant of a val example trains.
    group: str = ""
    variant: bool = False  # an augmented row (``method`` other than "original")


def _text(obj: dict[str, Any], key: str, where: str = "") -> str | None:
    """Why ``obj[key]`` is no usable text, or None when it is."""
    if key not in obj:
        return f"{where}no {key!r}"
    if not isinstance(obj[key], str):
        return f"{where}{key!r} is not a string ({type(obj[key]).__name__})"
    if not obj[key].strip():
        return f"{where}{key!r} is empty"
    return None


def _chat(messages: Any) -> list[Turn] | str:
    if not isinstance(messages, list) or not messages:
        return "messages: not a non-empty list"
    turns = []
    for n, msg in enumerate(messages, 1):
        if not isinstance(msg, dict):
            return f"messages: message {n} is not an object"
        problem = _text(msg, "role", f"messages: message {n}: ") or _text(
            msg, "content", f"messages: message {n}: ")
        if problem:
            return problem
        if msg["role"] not in ROLES:
            return f"messages: message {n}: unknown role {msg['role']!r}"
        turns.append((msg["role"], msg["content"]))
    if not any(role == "assistant" for role, _ in turns):
        return "messages: no assistant turn"
    return turns


def parse_line(text: str) -> list[Turn] | str:
    """One JSONL line's turns, or the reason it is malformed."""
    from llmlake.jsonl import json_lines

    for _, obj, problem in json_lines([text]):
        return problem or parse_object(obj)
    return "a blank line"


def parse_object(obj: Any) -> list[Turn] | str:
    """One decoded line's turns, or the reason it is malformed."""
    if not isinstance(obj, dict):
        return f"not a JSON object ({type(obj).__name__})"
    if "messages" in obj:
        return _chat(obj["messages"])
    problem = _text(obj, "prompt") or _text(obj, "response")
    if problem:
        return problem
    return [("user", obj["prompt"]), ("assistant", obj["response"])]


def read_examples(path: str | Path) -> tuple[list[Example], list[BadLine]]:
    """The file's examples and its malformed lines, both with 1-based line numbers."""
    examples, bad = [], []
    from llmlake.jsonl import json_lines

    with open(path, "rb") as fh:
        for number, obj, problem in json_lines(fh):
            if problem:
                bad.append(BadLine(number, problem))
                continue
            parsed = parse_object(obj)
            if isinstance(parsed, str):
                bad.append(BadLine(number, parsed))
            else:
                examples.append(Example(number, parsed, *_identity(obj, number)))
    return examples, bad


def _identity(obj: dict[str, Any], line: int) -> tuple[str, bool]:
    """The example's group and whether it is an augmented variant (``llmlake augment``
    writes ``id``, ``parent_id`` and ``method``)."""
    group = obj.get("parent_id") or obj.get("id") or f"line-{line}"
    method = obj.get("method")
    return str(group), isinstance(method, str) and method != "original"


def sft_signals(examples: int, bad: list[BadLine], max_bad_fraction: float) -> dict[str, Any]:
    """Every figure the go/no-go on a fine-tuning file rests on."""
    lines = examples + len(bad)
    return {"lines": lines, "examples": examples, "bad": len(bad),
            "bad_fraction": round(len(bad) / lines, 6) if lines else 0.0,
            "max_bad_fraction": max_bad_fraction,
            "first_bad": [{"line": b.line, "reason": b.reason} for b in bad[:FIRST_BAD]]}


def sft_reason(signals: dict[str, Any]) -> str:
    """``train``, or why not: ``no_examples`` or ``too_many_bad_lines``."""
    if signals["examples"] == 0:
        return "no_examples"
    if signals["bad_fraction"] > signals["max_bad_fraction"]:
        return "too_many_bad_lines"
    return "train"


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and val example indices, each in a seeded shuffled order. A positive fraction
    holds out at least one example (when there are two), and never all of them."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = round(n * val_fraction)
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    return perm[n_val:], perm[:n_val]


def split_examples(examples: list[Example], val_fraction: float, seed: int
                   ) -> tuple[list[int], list[int], int]:
    """Train and val example indices (seeded order) and the variants left out: groups are
    held out whole (:func:`split_indices` over groups), and a held-out group contributes
    only its original, so validation measures what was written, not a paraphrase of it.

    >>> ex = [Example(1, [], "a"), Example(2, [], "a", True), Example(3, [], "b"),
    ...       Example(4, [], "b", True)]
    >>> train, val, left_out = split_examples(ex, 0.5, seed=0)
    >>> {ex[i].group for i in val} & {ex[i].group for i in train}
    set()
    >>> len(train), [ex[i].variant for i in val], left_out
    (2, [False], 1)
    """
    groups = list(dict.fromkeys(ex.group for ex in examples))
    _, held = split_indices(len(groups), val_fraction, seed)
    held_groups = {groups[i] for i in held}
    order = np.random.default_rng([seed, 1]).permutation(len(examples))
    train = [int(i) for i in order if examples[i].group not in held_groups]
    val = [int(i) for i in order if examples[i].group in held_groups and not examples[i].variant]
    return train, val, len(examples) - len(train) - len(val)


@dataclass
class Rows:
    """A split's rows: ``tokens`` (N, seq_len) and the target ``mask``, with counts."""

    tokens: np.ndarray
    mask: np.ndarray
    stats: dict[str, int] = field(default_factory=dict)


def layout(examples: list[Encoded], seq_len: int, pad_id: int, pack: bool) -> Rows:
    """Rows of ``seq_len`` tokens, packed or padded (see the module doc)."""
    rows: list[tuple[np.ndarray, np.ndarray]] = []
    ids_run: list[np.ndarray] = []
    mask_run: list[np.ndarray] = []
    used = truncated = dropped = 0

    def flush() -> None:
        nonlocal used
        if ids_run:
            ids, mask = np.concatenate(ids_run), np.concatenate(mask_run)
            pad = seq_len - len(ids)
            rows.append((np.pad(ids, (0, pad), constant_values=pad_id), np.pad(mask, (0, pad))))
            ids_run.clear()
            mask_run.clear()
        used = 0

    for ex in examples:
        ids, mask = ex.ids, ex.mask
        if len(ids) > seq_len:
            ids, mask, truncated = ids[:seq_len], mask[:seq_len], truncated + 1
            if not mask[1:].any():  # the prompt fills the row: nothing left to learn
                dropped += 1
                continue
        if not pack or used + len(ids) > seq_len:
            flush()
        ids_run.append(ids)
        mask_run.append(mask)
        used += len(ids)
    flush()
    tokens = np.array([r[0] for r in rows], dtype=np.uint32).reshape(len(rows), seq_len)
    masks = np.array([r[1] for r in rows], dtype=bool).reshape(len(rows), seq_len)
    real = int((tokens != pad_id).sum())
    return Rows(tokens, masks, {"examples": len(examples) - dropped, "rows": len(rows),
                                "truncated": truncated, "dropped": dropped, "tokens": real,
                                "targets": int(masks.sum()), "pad": tokens.size - real})
