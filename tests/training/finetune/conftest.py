"""Fine-tuning test material: a tokenizer trained here on a small instruction set and two
text domains, and tiny model folders that use it (no lake, no Ray)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

NAMES = ["anna", "bruno", "carla", "dmitri", "elena", "farid", "greta", "hugo", "ines",
         "jonas", "kira", "liam", "mona", "nils", "olga", "pavel", "quinn", "rosa", "sven",
         "tara"]
FOODS = ["apples", "bread", "cheese", "dates", "eggs", "figs", "grapes", "honey", "jam",
         "kiwis", "lemons", "mangoes", "nuts", "olives", "pears", "plums", "rice", "soup",
         "tea", "yams"]
ANIMALS = ["cat", "dog", "fox", "owl", "hen", "cow", "pig", "bee", "ant", "rat"]
VERBS = ["sees", "chases", "likes", "finds", "meets"]
NUMBERS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
SHAPE = {"n_layer": 1, "n_embd": 32, "n_head": 2}


def qa_pairs() -> list[tuple[str, str]]:
    """Twenty facts to teach: who likes which food (nothing a model could guess)."""
    return [(f"What does {n} like?", f"{n.title()} likes {FOODS[i * 7 % 20]}.")
            for i, n in enumerate(NAMES)]


def animal_text(n: int, seed: int) -> list[str]:
    """Domain A: little sentences about animals."""
    rng = np.random.default_rng(seed)
    return [" ".join(f"the {rng.choice(ANIMALS)} {rng.choice(VERBS)} the {rng.choice(ANIMALS)}."
                     for _ in range(4)) for _ in range(n)]


def counting_text(n: int, seed: int) -> list[str]:
    """Domain B: counting runs in number words, a pattern domain A never shows."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        start = int(rng.integers(0, 5))
        out.append(" ".join(NUMBERS[start:start + 6]) + ".")
    return out


@pytest.fixture(scope="session")
def material() -> SimpleNamespace:
    """The texts and the model shape (conftest modules are not importable by tests)."""
    return SimpleNamespace(qa_pairs=qa_pairs, animal_text=animal_text,
                           counting_text=counting_text, shape=SHAPE)


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    """A byte-level BPE (ids 0 and 1: EOS and PAD) saved as the tokenizer stage saves one."""
    from etl.tokenizer.bpe import train
    from llmlake.tokenizer import save

    texts = [f"### System:\nBe brief.\n\n### Prompt:\n{p}\n\n### Response:\n{r}"
             for p, r in qa_pairs()]
    texts += animal_text(40, 0) + counting_text(40, 0)
    folder = tmp_path_factory.mktemp("tokenizer")
    save(train(texts * 3, vocab_size=400), folder)
    return folder


@pytest.fixture(scope="session")
def tok(tokenizer_dir):
    from llmlake.tokenizer import load

    return load(tokenizer_dir)


@pytest.fixture
def make_model(tokenizer_dir):
    """``make(folder, model=None, lineage=None)``: a model folder with the test tokenizer
    (a fresh tiny model of context 32 unless one is given)."""
    import torch

    from llmlake.tokenizer import load
    from training.checkpoint import save_model
    from training.model import LanguageModel, ModelConfig

    def make(folder: Path, model=None, lineage: dict | None = None) -> Path:
        if model is None:
            torch.manual_seed(0)
            vocab = load(tokenizer_dir).get_vocab_size()
            model = LanguageModel(ModelConfig.from_preset("tiny", vocab_size=vocab, context=32,
                                                          **SHAPE))
        return save_model(folder, model, tokenizer_dir,
                          {"run": "train-parent", **(lineage or {})})

    return make


def write_jsonl(path: Path, rows: list) -> Path:
    """Rows as JSONL; a str row is written as it is (a malformed line)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture
def jsonl():
    return write_jsonl
