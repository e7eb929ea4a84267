"""Greedy decoding and the exact-match score of a fine-tuned model.

:func:`greedy` is the model's own decoding at temperature 0, cut at the first EOS. :func:`exact_match` asks whether a val example's prompt
(every token before its last answer) makes the model write that answer and then EOS, with
at most the answer's length plus one new tokens; the score is the share that do. Imports
torch only (through the model).

Example::

    >>> import numpy as np, torch
    >>> from training.finetune.template import Encoded
    >>> from training.model import LanguageModel, ModelConfig
    >>> torch.manual_seed(0) and None
    >>> model = LanguageModel(ModelConfig.from_preset("tiny", n_layer=1, vocab_size=16,
    ...                                                context=8)).eval()
    >>> len(greedy(model, [3, 4, 5], max_new=4, eos_id=0)) <= 4
    True
    >>> ex = Encoded(np.array([3, 4, 9, 0]), np.array([False, False, True, True]), 2)
    >>> exact_match(model, [ex], eos_id=0)["examples"]
    1
"""

from __future__ import annotations

from typing import Any

import torch

from training.finetune.template import Encoded
from training.model import LanguageModel

MAX_EXAMPLES = 100


def greedy(model: LanguageModel, prompt: list[int], max_new: int, eos_id: int,
           device: str | torch.device = "cpu") -> list[int]:
    """Up to ``max_new`` argmax tokens after ``prompt`` (:meth:`LanguageModel.generate` at
    temperature 0), ending at the first EOS (kept)."""
    max_new = min(max_new, model.config.context - len(prompt) + 1)
    if max_new <= 0:
        return []
    idx = torch.tensor([prompt], dtype=torch.long, device=device)
    new = model.generate(idx, max_new, temperature=0)[0, len(prompt):].tolist()
    return new[:new.index(eos_id) + 1] if eos_id in new else new


def exact_match(model: LanguageModel, examples: list[Encoded], eos_id: int,
                device: str | torch.device = "cpu", limit: int = MAX_EXAMPLES
                ) -> dict[str, Any]:
    """The share of (up to ``limit``) examples whose greedy continuation of the prompt is
    exactly the answer followed by EOS; examples longer than the context are left out."""
    model.eval()
    fitting = [e for e in examples if len(e) <= model.config.context + 1][:limit]
    hits = 0
    for ex in fitting:
        answer = ex.ids[ex.answer_start:].tolist()  # its last answer and the EOS ending it
        got = greedy(model, ex.ids[:ex.answer_start].tolist(), len(answer), eos_id, device)
        hits += got == answer
    return {"examples": len(fitting), "exact": hits,
            "share": round(hits / len(fitting), 4) if fitting else None}
