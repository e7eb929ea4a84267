"""The sample instruction set: a small JSONL fine-tuning file drawn from the same grammar.

Each example asks for the topic of one or two sentences written on that topic (short, so an
example fits a small context), and answers with the topic's name, so a fine-tuned model
can be checked by exact match. Three rows in four are
``{"id", "prompt", "response"}``; every fourth is chat-style ``{"id", "messages": [system,
user, assistant]}``. ``sft_bad`` malformed lines are planted among them (cut JSON, a
response that is not text, a conversation with no assistant turn), one kind after another,
so ``llmlake augment`` (which reads it in the pipeline) shows how bad lines are reported and
skipped; ``llmlake finetune --data data/raw/sft.jsonl`` reports them the same way.
The same seed gives the same bytes.

Example::

    >>> from llmlake.config import SampleConfig
    >>> lines = instruction_lines(SampleConfig(sft_examples=8, sft_bad=2))
    >>> len(lines), sum(1 for line in lines if line.startswith('{"id"'))
    (10, 8)
    >>> json.loads(lines[0])["response"] in TOPIC_NAMES
    True
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from etl.sample.sites import TOPIC_NAMES
from etl.sample.text import english
from llmlake.config import SampleConfig

QUESTION = "Which topic is this text about?"
SYSTEM = "You name the topic of the text you are given, in one word."
# One of each kind in turn; each breaks the schema in a way a real export does.
BAD_LINES = (
    '{"prompt": "Which topic is this text about?", "response": "coo',  # cut mid-write
    '{"prompt": "Which topic is this text about?", "response": 3}',     # not text
    '{"messages": [{"role": "user", "content": "Which topic?"}]}',      # no assistant turn
)


def instruction_lines(cfg: SampleConfig) -> list[str]:
    """The file's lines: ``sft_examples`` examples, ``sft_bad`` malformed lines among them."""
    rng = random.Random(f"sft-{cfg.seed}")
    eng, topics = english(cfg.seed), tuple(cfg.topics) or TOPIC_NAMES
    lines = []
    for i in range(cfg.sft_examples):
        topic = topics[int(rng.random() * len(topics))]
        eng.use(rng, topic)
        text = " ".join(eng.sentence() for _ in range(1 + int(rng.random() * 2)))
        if i % 4 == 3:
            row = {"id": f"sft-{i}", "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": text},
                {"role": "assistant", "content": topic}]}
        else:
            row = {"id": f"sft-{i}", "prompt": f"{QUESTION}\n\n{text}", "response": topic}
        lines.append(json.dumps(row))
    for k in range(cfg.sft_bad):  # spread through the file, at seeded places
        lines.insert(int(rng.random() * (len(lines) + 1)), BAD_LINES[k % len(BAD_LINES)])
    return lines


def write_instructions(cfg: SampleConfig, path: Path) -> dict[str, int]:
    from llmlake.lake import write_atomic

    lines = instruction_lines(cfg)
    write_atomic(path, lambda fh: fh.write("".join(f"{line}\n" for line in lines)))
    return {"examples": cfg.sft_examples, "malformed": cfg.sft_bad}
