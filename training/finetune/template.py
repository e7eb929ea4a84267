"""Prompt templates: how a fine-tuning example is laid out as tokens, and which of them the
loss learns from.

An example is a list of turns ``(role, content)`` with roles ``system``, ``user`` and
``assistant``; a prompt/response pair is ``[("user", prompt), ("assistant", response)]``.
The ``plain`` template (``finetune.template: plain``) lays the turns out as::

    ### System:
    {system content}

    ### Prompt:
    {user content}

    ### Response:
    {assistant content}<|endoftext|>

one block per turn, in order: a chat's next ``### Prompt:`` block follows the end-of-text
token of the answer before it directly. ``<|endoftext|>`` is the EOS *id* (0), appended
after each assistant turn, never the string: the tokenizer reads that string in text as
plain text. Turns after the last assistant turn teach nothing and are left out.

The loss counts the assistant contents and the EOS ending each (the *targets*); headers,
system and user turns are context only. A model fine-tuned so answers a prompt sent in the
same layout: serving must send ``### Prompt:\\n{prompt}\\n\\n### Response:\\n``
(:func:`render_prompt`) and stop at EOS.

Text pieces are encoded separately: everything up to an answer as one string, the answer as
another, so a prompt rendered alone encodes to exactly the ids the model was trained on.

Example::

    >>> render_prompt("Name a colour.")
    '### Prompt:\\nName a colour.\\n\\n### Response:\\n'
    >>> [(text, target) for text, target in pieces(
    ...     [("user", "Hi"), ("assistant", "Hello"), ("user", "Bye")], TEMPLATES["plain"])]
    [('### Prompt:\\nHi\\n\\n### Response:\\n', False), ('Hello', True), (None, True)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

ROLES = ("system", "user", "assistant")
Turn = tuple[str, str]  # (role, content)


@dataclass(frozen=True)
class Template:
    """Each role's text around its content; ``answer`` opens an assistant turn (context),
    whose content and closing EOS are the targets."""

    system: str
    user: str
    answer: str


TEMPLATES = {
    "plain": Template(system="### System:\n{content}\n\n", user="### Prompt:\n{content}\n\n",
                      answer="### Response:\n"),
}


def template(name: str) -> Template:
    """The registered template ``name``; an unknown name raises ValueError naming the key."""
    if name not in TEMPLATES:
        raise ValueError(f"finetune.template: {name!r} is not a template; templates: "
                         f"{', '.join(TEMPLATES)}")
    return TEMPLATES[name]


def render_prompt(prompt: str, name: str = "plain") -> str:
    """The text a single-turn prompt is sent as: what follows it is the model's answer."""
    tpl = template(name)
    return tpl.user.format(content=prompt) + tpl.answer


def pieces(turns: list[Turn], tpl: Template) -> list[tuple[str | None, bool]]:
    """The example as ``(text, is_target)`` pieces, context runs merged into one string;
    ``(None, True)`` stands for the EOS id that closes an answer."""
    last = max(i for i, (role, _) in enumerate(turns) if role == "assistant")
    out: list[tuple[str | None, bool]] = []
    context = ""
    for role, content in turns[:last + 1]:
        if role == "assistant":
            out += [(context + tpl.answer, False), (content, True), (None, True)]
            context = ""
        else:
            context += (tpl.system if role == "system" else tpl.user).format(content=content)
    return out


@dataclass(frozen=True)
class Encoded:
    """An example's ids, its target mask, and where its last answer starts (what comes
    before is the prompt a greedy decode starts from)."""

    ids: np.ndarray
    mask: np.ndarray
    answer_start: int

    def __len__(self) -> int:
        return len(self.ids)


def encode(tok: Tokenizer, turns: list[Turn], tpl: Template, eos_id: int) -> Encoded:
    """Token ids and target mask of one example (see the module doc for the layout)."""
    ids: list[int] = []
    mask: list[bool] = []
    answer_start = 0
    for text, target in pieces(turns, tpl):
        if text is None:
            piece = [eos_id]
        else:
            piece = tok.encode(text, add_special_tokens=False).ids
            if target:
                answer_start = len(ids)
        ids += piece
        mask += [target] * len(piece)
    return Encoded(np.array(ids, dtype=np.int64), np.array(mask, dtype=bool), answer_start)
