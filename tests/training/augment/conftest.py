"""A small instruction set, a tokenizer trained on it and a tiny untrained model, built here
(no lake needed): what augment's tests edit, mine and sample from."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

ANIMALS = ["cat", "dog", "horse", "bird", "mouse", "rabbit"]
VERBS = ["sees", "chases", "likes", "finds", "watches", "follows"]
PLACES = ["garden", "house", "forest", "river", "field", "market"]
SHAPE = {"n_layer": 1, "n_embd": 32, "n_head": 2, "context": 64}


def sentence(rng: random.Random) -> str:
    a, b = rng.sample(ANIMALS, 2)
    return f"The {a} {rng.choice(VERBS)} the {b} in the {rng.choice(PLACES)}."


def instruction_rows(n: int = 12, seed: int = 0) -> list[dict]:
    """``n`` rows: pairs, a chat row every third, a text row every fifth."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        text = " ".join(sentence(rng) for _ in range(2))
        if i % 5 == 4:
            rows.append({"id": f"r{i}", "text": text})
        elif i % 3 == 2:
            rows.append({"id": f"r{i}", "messages": [
                {"role": "system", "content": "Name the animal."},
                {"role": "user", "content": text},
                {"role": "assistant", "content": rng.choice(ANIMALS)}]})
        else:
            rows.append({"id": f"r{i}", "prompt": f"Which animal?\n\n{text}",
                         "response": rng.choice(ANIMALS)})
    return rows


def write_jsonl(path: Path, rows: list, bad: tuple[str, ...] = ()) -> Path:
    lines = [json.dumps(r) for r in rows] + list(bad)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


BAD_LINES = (
    '{"prompt": "Which animal?", "response": "ca',               # cut mid-write
    '["not", "an", "object"]',
    '{"prompt": "Which animal?", "response": 3}',
    '{"messages": [{"role": "user", "content": "Which animal?"}]}',  # no assistant turn
    '{"title": "no text field"}',
)


@pytest.fixture
def rows() -> list[dict]:
    return instruction_rows()


@pytest.fixture
def input_file(tmp_path, rows) -> Path:
    """The rows as JSONL, with every kind of malformed line after them (lines 13-17)."""
    return write_jsonl(tmp_path / "in" / "sft.jsonl", rows, BAD_LINES)


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    from etl.tokenizer.bpe import train
    from llmlake.tokenizer import save

    rng = random.Random(1)
    tok = train([sentence(rng) for _ in range(400)], vocab_size=400)
    folder = tmp_path_factory.mktemp("tokenizer")
    save(tok, folder)
    return folder


@pytest.fixture(scope="session")
def tok(tokenizer_dir):
    from llmlake.tokenizer import load

    return load(tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_model(tok):
    import torch

    from training.model import LanguageModel, ModelConfig

    torch.manual_seed(0)
    config = ModelConfig.from_preset("tiny", vocab_size=tok.get_vocab_size(), **SHAPE)
    return LanguageModel(config).eval()


@pytest.fixture(scope="session")
def model_dir(tiny_model, tokenizer_dir, tmp_path_factory):
    """The tiny model saved as a model folder, its tokenizer beside it."""
    from training.checkpoint import save_model

    return save_model(tmp_path_factory.mktemp("models") / "model", tiny_model, tokenizer_dir,
                      lineage={"run": "augment-test"})
