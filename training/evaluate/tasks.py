"""Multiple-choice and cloze tasks: reading them, building the built-in one, scoring, metrics.

A task file is JSONL, one example a line: ``{"context": str, "choices": [str, ...],
"label": int}`` (``label`` indexes the right choice; an ``"id"`` and other keys may ride
along). A cloze task is the same, its blank at the end of the context. :func:`parse_task`
keeps the good lines and turns each malformed one into a :class:`Problem` (its line
number and why), so one bad line never sinks a task. :func:`next_sentence_task` builds
``builtin:next_sentence`` from test documents: a document's opening sentences, then its
real next sentence among sentences of other documents.

Each choice is scored as the log-likelihood of its tokens after the context's
(:func:`task_items`). The context is encoded after ``<|endoftext|>``, as a document
starts in training; the choice is encoded on its own as ``" " + choice`` (a choice joins
its context with one space), unless the context ends with whitespace or the choice starts
with it. ``normalize`` then divides that sum by the UTF-8 bytes of the scored text
(``bytes``: longer choices are not penalised for their length, the idea of lm-eval's
``acc_norm``, and comparable across tokenizers), by its tokens (``tokens``), or not at
all (``none``). The prediction is the best choice, the lowest index on a tie.

Example::

    >>> examples, problems = parse_task(['{"context": "2 + 2 =", "choices": ["4", "5"], '
    ...                                  '"label": 0}', "", '{"context": "x"}'])
    >>> examples[0].choices, examples[0].line
    (('4', '5'), 1)
    >>> problems
    [Problem(line=3, reason="missing key 'choices'")]
    >>> pred, gold = np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])
    >>> accuracy(pred, gold), round(macro_f1(pred, gold, n_classes=2), 4)
    (0.75, 0.7333)
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmlake.config_eval import BUILTIN_TASK, NORMALIZE
from llmlake.tokenizer import EOS
from training.evaluate.score import Item, Scores, context_item, score

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

    from llmlake.config_eval import EvaluateConfig
    from training.model import LanguageModel

BUILTIN_NAME = "next_sentence"
SHOWN_PROBLEMS = 5            # malformed lines quoted in a task's signals
# Built-in task: a sentence this short is mostly a fragment or a menu item, one this long
# mostly a run-on the splitter failed to cut; neither makes a fair choice.
MIN_SENTENCE, MAX_SENTENCE = 20, 300
MAX_CONTEXT_SENTENCES, MAX_CONTEXT_CHARS = 3, 600
# A line break ends a sentence too, so a page's headings and menus stay out of its prose.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")


@dataclass(frozen=True)
class Example:
    context: str
    choices: tuple[str, ...]
    label: int
    line: int        # 1-based line in its file (the example's number for the built-in task)
    id: str = ""     # the line's "id", or the document of a built-in example


@dataclass(frozen=True)
class Problem:
    line: int
    reason: str


# --- reading ------------------------------------------------------------------------------

def parse_task(lines: Iterable[str | bytes]) -> tuple[list[Example], list[Problem]]:
    """The well-formed examples of a JSONL task and a :class:`Problem` per malformed line;
    blank lines are skipped (but counted)."""
    from llmlake.jsonl import json_lines

    examples, problems = [], []
    for number, obj, problem in json_lines(lines):
        if problem:
            problems.append(Problem(number, problem))
            continue
        reason = _malformed(obj)
        if reason:
            problems.append(Problem(number, reason))
            continue
        examples.append(Example(obj["context"], tuple(obj["choices"]), obj["label"], number,
                                str(obj.get("id", ""))))
    return examples, problems


def _malformed(obj: Any) -> str | None:
    """Why a decoded line is not an example, or None."""
    if not isinstance(obj, dict):
        return f"not a JSON object (a {type(obj).__name__})"
    for key in ("context", "choices", "label"):
        if key not in obj:
            return f"missing key {key!r}"
    context, choices, label = obj["context"], obj["choices"], obj["label"]
    if not isinstance(context, str):
        return f"'context' must be a string, got {type(context).__name__}"
    if not context.strip():
        return "'context' is empty"
    if not isinstance(choices, list):
        return f"'choices' must be a list of strings, got {type(choices).__name__}"
    if len(choices) < 2:
        return f"'choices' needs at least 2, got {len(choices)}"
    for i, choice in enumerate(choices):
        if not isinstance(choice, str):
            return f"'choices'[{i}] must be a string, got {type(choice).__name__}"
        if not choice.strip():
            return f"'choices'[{i}] is empty"
    if isinstance(label, bool) or not isinstance(label, int):
        return f"'label' must be an integer, got {type(label).__name__}"
    if not 0 <= label < len(choices):
        return f"'label' {label} is outside 0..{len(choices) - 1}"
    return None


def load_task(path: str | Path) -> tuple[str, list[Example], list[Problem]]:
    """A task file's name (its stem), examples and problems."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"evaluate.tasks: no task file at {path}")
    examples, problems = parse_task(path.read_bytes().splitlines())
    return path.stem, examples, problems


# --- the built-in task --------------------------------------------------------------------

def sentences(text: str) -> list[str]:
    """``text`` cut after ``.``, ``!`` or ``?`` followed by whitespace, and at line breaks;
    whitespace inside a sentence collapsed to single spaces."""
    return [" ".join(s.split()) for s in _SENTENCE_END.split(text) if s.strip()]


def next_sentence_task(documents: Sequence[tuple[str, str]], examples: int, choices: int,
                       seed: int) -> list[Example]:
    """Up to ``examples`` examples from ``(doc_id, text)`` documents, at most one each.

    The context is a document's opening (:func:`opening`); the answer, the sentence that
    follows it; the other ``choices - 1``, sentences of other documents, none the answer's
    text. The same for a seed whatever the documents' order; fewer examples when the corpus
    is too small.
    """
    if choices < 2:
        raise ValueError(f"evaluate.task_choices: must be at least 2, got {choices}")
    docs = sorted(documents)
    pool: dict[str, set[int]] = {}   # usable sentence -> the documents holding it
    openings: list[tuple[int, str, str]] = []   # (document, context, answer)
    for d, (_, text) in enumerate(docs):
        sents = sentences(text)
        for s in filter(_usable, sents):
            pool.setdefault(s, set()).add(d)
        if (found := opening(sents)) is not None:
            openings.append((d, *found))
    rng = np.random.default_rng(seed)
    texts = sorted(pool)
    order = [texts[i] for i in rng.permutation(len(texts))]
    cursor = 0
    out: list[Example] = []
    for pick in rng.permutation(len(openings)):
        if len(out) == examples:
            break
        d, context, answer = openings[pick]
        wrong, cursor = _deal(order, cursor, choices - 1,
                              lambda s, d=d, answer=answer: d not in pool[s] and s != answer)
        if len(wrong) < choices - 1:
            continue
        label = int(rng.integers(choices))
        wrong.insert(label, answer)
        out.append(Example(context, tuple(wrong), label, len(out) + 1, docs[d][0]))
    return out


def _usable(sentence: str) -> bool:
    return MIN_SENTENCE <= len(sentence) <= MAX_SENTENCE


def opening(sents: Sequence[str]) -> tuple[str, str] | None:
    """A document's opening and the sentence after it, or None: the context is the first
    usable sentences (up to three and 600 characters), the answer the next, all consecutive.

    The opening, because a context is scored as the start of a document.
    """
    for first in range(len(sents) - 1):
        run = list(itertools.takewhile(_usable, sents[first:first + MAX_CONTEXT_SENTENCES + 1]))
        for k in range(len(run) - 1, 0, -1):   # the longest context that fits
            context = " ".join(run[:k])
            if len(context) <= MAX_CONTEXT_CHARS:
                return context, run[k]
    return None


def _deal(order: list[str], cursor: int, n: int, fits: Callable[[str], bool]
          ) -> tuple[list[str], int]:
    """Up to ``n`` sentences that fit, going round ``order`` (distinct texts) from ``cursor``
    at most once; and where the next deal starts, so that distractors spread over the
    whole pool rather than repeat."""
    got: list[str] = []
    for step in range(len(order)):
        s = order[(cursor + step) % len(order)]
        if fits(s):
            got.append(s)
            if len(got) == n:
                return got, (cursor + step + 1) % len(order)
    return got, cursor


# --- scoring ------------------------------------------------------------------------------

def scored_text(context: str, choice: str) -> str:
    """The text a choice is scored as: joined to its context by one space."""
    return choice if context[-1:].isspace() or choice[:1].isspace() else " " + choice


def task_items(tokenizer: Tokenizer, examples: Sequence[Example], limit: int) -> list[Item]:
    """One item per choice, in order: ``<|endoftext|>`` and the context, then the choice's
    tokens as targets (the context loses its oldest tokens to fit ``limit``)."""
    eos = tokenizer.token_to_id(EOS)
    contexts = tokenizer.encode_batch_fast([ex.context for ex in examples],
                                           add_special_tokens=False)
    targets = tokenizer.encode_batch_fast(
        [scored_text(ex.context, c) for ex in examples for c in ex.choices],
        add_special_tokens=False)
    items, t = [], 0
    for ex, ctx in zip(examples, contexts, strict=True):
        for _ in ex.choices:
            items.append(context_item([eos, *ctx.ids], targets[t].ids, limit))
            t += 1
    return items


def choice_scores(scores: Scores, examples: Sequence[Example], normalize: str
                  ) -> list[np.ndarray]:
    """Per example, each choice's log-likelihood (higher is likelier) under ``normalize``,
    from the :func:`~training.evaluate.score.score` of its :func:`task_items`."""
    if normalize not in NORMALIZE:
        raise ValueError(f"evaluate.normalize: must be one of {', '.join(NORMALIZE)}, "
                         f"got {normalize!r}")
    out, at = [], 0
    for ex in examples:
        n = len(ex.choices)
        loglik = -scores.nll[at:at + n]
        if normalize == "bytes":
            loglik = loglik / [len(scored_text(ex.context, c).encode("utf-8"))
                               for c in ex.choices]
        elif normalize == "tokens":
            loglik = loglik / scores.tokens[at:at + n]
        out.append(loglik)
        at += n
    return out


def predict(per_choice: Sequence[np.ndarray]) -> np.ndarray:
    """Each example's best choice; the lowest index on a tie."""
    return np.array([int(np.argmax(s)) for s in per_choice], dtype=np.int64)


def score_task(model: LanguageModel, tokenizer: Tokenizer, examples: Sequence[Example],
               normalize: str, batch_size: int = 16, device: str | torch.device | None = None,
               on_batch: Callable[[int], None] | None = None
               ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Predicted choice indices and every choice's score; ``on_batch(n)`` counts choices."""
    items = task_items(tokenizer, examples, model.config.context)
    scored = score(model, items, batch_size=batch_size, device=device, on_batch=on_batch)
    per_choice = choice_scores(scored, examples, normalize)
    return predict(per_choice), per_choice


# --- metrics ------------------------------------------------------------------------------

def accuracy(pred: np.ndarray, gold: np.ndarray) -> float:
    """Share of examples whose prediction is the label (nan for none)."""
    return float(np.mean(np.asarray(pred) == np.asarray(gold))) if len(gold) else float("nan")


def macro_f1(pred: np.ndarray, gold: np.ndarray, n_classes: int) -> float:
    """Mean F1 over answer positions that occur as a label or a prediction: a model that
    always answers "A" scores well on accuracy when "A" is common, not here."""
    pred, gold = np.asarray(pred, dtype=np.int64), np.asarray(gold, dtype=np.int64)
    hit = pred == gold
    tp = np.bincount(gold[hit], minlength=n_classes)
    fp = np.bincount(pred[~hit], minlength=n_classes)
    fn = np.bincount(gold[~hit], minlength=n_classes)
    seen = tp + fp + fn > 0
    if not seen.any():
        return float("nan")
    return float(np.mean(2 * tp[seen] / (2 * tp[seen] + fp[seen] + fn[seen])))


def bootstrap_ci(pred: np.ndarray, gold: np.ndarray,
                 stat: Callable[[np.ndarray, np.ndarray], float], resamples: int, seed: int
                 ) -> tuple[float | None, float | None]:
    """95% percentile interval of ``stat`` over examples resampled with replacement;
    ``(None, None)`` with no resamples or no examples."""
    pred, gold = np.asarray(pred), np.asarray(gold)
    if not resamples or not len(gold):
        return None, None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, len(gold), len(gold))
        values.append(stat(pred[idx], gold[idx]))
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)


def task_signals(name: str, pred: np.ndarray, gold: np.ndarray, problems: Sequence[Problem],
                 n_choices: Sequence[int], resamples: int, seed: int, normalize: str
                 ) -> dict[str, Any]:
    """Every figure of one task: size, skipped lines, accuracy and macro-F1 with their
    intervals, and the accuracy of guessing (``chance``)."""
    pred, gold = np.asarray(pred, dtype=np.int64), np.asarray(gold, dtype=np.int64)
    classes = max(n_choices, default=0)

    def f1(p: np.ndarray, g: np.ndarray) -> float:
        return macro_f1(p, g, classes)

    scored = len(gold) > 0
    return {
        "task": name,
        "examples": len(gold),
        "skipped": len(problems),
        "problems": [{"line": p.line, "reason": p.reason} for p in problems[:SHOWN_PROBLEMS]],
        "accuracy": _round(accuracy(pred, gold)) if scored else None,
        "accuracy_ci": [_round(x) for x in bootstrap_ci(pred, gold, accuracy, resamples, seed)],
        "macro_f1": _round(f1(pred, gold)) if scored else None,
        "macro_f1_ci": [_round(x) for x in bootstrap_ci(pred, gold, f1, resamples, seed)],
        "chance": _round(float(np.mean([1 / n for n in n_choices]))) if scored else None,
        "normalize": normalize,
    }


def _round(x: float | None) -> float | None:
    return None if x is None or np.isnan(x) else round(float(x), 4)


# --- one call per task --------------------------------------------------------------------

def resolve_task(spec: str, cfg: EvaluateConfig, documents: Sequence[tuple[str, str]]
                 ) -> tuple[str, list[Example], list[Problem]]:
    """An ``evaluate.tasks`` entry as (name, examples, problems): the built-in task from
    ``documents`` (the test split's ``(doc_id, text)``), else the file at ``spec``."""
    if spec == BUILTIN_TASK:
        return BUILTIN_NAME, next_sentence_task(documents, cfg.task_examples,
                                                cfg.task_choices, cfg.seed), []
    return load_task(spec)


def evaluate_task(model: LanguageModel, tokenizer: Tokenizer, name: str,
                  examples: Sequence[Example], problems: Sequence[Problem],
                  cfg: EvaluateConfig, device: str | torch.device | None = None,
                  on_batch: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Score a task and return its :func:`task_signals` (``cfg`` is ``params.evaluate``)."""
    pred = np.zeros(0, dtype=np.int64)
    if examples:
        pred, _ = score_task(model, tokenizer, examples, cfg.normalize, cfg.batch_size,
                             device, on_batch)
    gold = np.array([ex.label for ex in examples], dtype=np.int64)
    return task_signals(name, pred, gold, problems, [len(ex.choices) for ex in examples],
                        cfg.bootstrap, cfg.seed, cfg.normalize)
