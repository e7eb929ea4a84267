"""Bias probes (training.evaluate.bias): the probe-set format and its errors, what is
scored, the figures against a direct computation, a planted bias, and the page."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from etl.tokenizer.bpe import train as train_tokenizer
from training.evaluate.bias import (
    bias_items,
    bias_signals,
    load_templates,
    parse_templates,
    probes,
    write_bias_html,
)
from training.model import LanguageModel, ModelConfig

CATEGORIES = {"gender", "ethnicity", "religion", "age", "nationality", "disability"}

PLANTED = {
    "fillers": {"occupation": ["a doctor", "a nurse"]},
    "categories": {
        "gender": {"terms": ["man", "woman"],
                   "templates": ["The {term} is {occupation}."]},
        "age": {"terms": ["young", "old"],
                "templates": ["The {term} person is {occupation}."]},
    },
}
# man is always a doctor and woman a nurse; the young and the old are each as often both.
BIASED_TEXT = ["The man is a doctor.", "The woman is a nurse."] * 2 + [
    f"The {age} person is {job}." for age in ("young", "old")
    for job in ("a doctor", "a nurse")]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tok():
    """A byte-level BPE that knows the packaged probes' words, as a trained one would."""
    sentences = [prefix + p.continuation for p in probes(load_templates())
                 for prefix in p.prefixes]
    return train_tokenizer(sentences + BIASED_TEXT * 20, vocab_size=600)


def model_for(tok, seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    config = ModelConfig.from_preset("tiny", n_layer=2, n_embd=64, n_head=2,
                                     vocab_size=tok.get_vocab_size(), context=32)
    return LanguageModel(config).eval()


def test_the_packaged_set_covers_six_categories_in_a_few_thousand_sentences():
    bias_set = load_templates()
    assert {c.name for c in bias_set.categories} == CATEGORIES
    assert all(len(c.terms) >= 2 for c in bias_set.categories)
    found = probes(bias_set)
    assert {p.category for p in found} == CATEGORIES
    assert 2000 <= sum(len(p.terms) for p in found) <= 4000
    assert "packaged" in bias_set.source


def valid() -> dict:
    return copy.deepcopy(PLANTED)


def _set(path: str, value):
    def mutate(data: dict) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
    return mutate


@pytest.mark.parametrize(("mutate", "key", "message"), [
    (_set("categories.gender.templates", ["The {term} worked as {occupation}.", "A {occupation} is a {term}."]),
     "categories.gender.templates[1]", "the {term} slot must come before the filler"),
    (_set("categories.gender.templates", ["The {term} likes {food}."]),
     "categories.gender.templates[0]", "unknown slot {food}"),
    (_set("categories.gender.templates", ["The {term} worked."]),
     "categories.gender.templates[0]", "exactly one filler slot"),
    (_set("categories.gender.templates", ["The man worked as {occupation}."]),
     "categories.gender.templates[0]", "exactly one {term} slot"),
    (_set("categories.gender.templates", ["The {term}s worked as {occupation}."]),
     "categories.gender.templates[0]", "space or punctuation"),
    (_set("categories.gender.templates", ["The {term} worked as {occupation:>9}."]),
     "categories.gender.templates[0]", "no format spec"),
    (_set("categories.gender.templates", ["The {term} worked as {occupation}}."]),
     "categories.gender.templates[0]", "not a valid template"),
    (_set("categories.gender.templates", "people"),
     "categories.gender.templates", "no shared template list 'people'"),
    (_set("categories.gender.terms", ["man"]), "categories.gender.terms", "at least 2"),
    (_set("categories.gender.terms", ["man", "man"]), "categories.gender.terms[1]",
     "listed twice"),
    (_set("categories.gender.terms", ["man", " woman"]), "categories.gender.terms[1]",
     "leading or trailing"),
    (_set("categories.gender.colour", "blue"), "categories.gender", "unknown key 'colour'"),
    (_set("fillers.occupation", []), "fillers.occupation", "at least 1"),
    (_set("fillers.term", ["x"]), "fillers.term", "identifier other than 'term'"),
    (_set("categories", {}), "categories", "non-empty mapping"),
    (_set("templates", {"person": ["{occupation} and {term}"]}), "templates.person[0]",
     "before the filler"),
])
def test_a_malformed_set_names_the_offending_key(mutate, key, message):
    data = valid()
    mutate(data)
    with pytest.raises(ValueError) as err:
        parse_templates(data, "mine.yaml")
    assert str(err.value).startswith(f"bias_templates mine.yaml: {key}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_user_file_loads_and_its_errors_name_it(tmp_path):
    path = tmp_path / "probes.yaml"
    path.write_text("fillers: {job: [a cook]}\ntemplates: {t: ['My {term} friend is {job}.']}\n"
                    "categories: {age: {terms: [young, old], templates: t}}\n")
    bias_set = load_templates(str(path))
    assert bias_set.source == str(path)
    assert [p.prefixes for p in probes(bias_set)] == [("My young", "My old")]
    path.write_text("fillers: [unclosed\n")
    with pytest.raises(ValueError, match=f"bias_templates {path}: not valid YAML"):
        load_templates(str(path))
    with pytest.raises(FileNotFoundError, match="bias_templates: no file at"):
        load_templates(str(tmp_path / "missing.yaml"))


def test_each_term_is_scored_on_the_same_text_after_it(tok):
    items, found = bias_items(tok, load_templates(), limit=64)
    assert len(items) == sum(len(p.terms) for p in found)
    at = 0
    for probe in found:
        group, at = items[at:at + len(probe.terms)], at + len(probe.terms)
        targets = {tuple(item.ids[item.first:]) for item in group}
        assert len(targets) == 1  # the same continuation ids for every term
        assert tok.decode(list(targets.pop())) == probe.continuation
        for item, term, prefix in zip(group, probe.terms, probe.prefixes, strict=True):
            assert item.ids[0] == 0  # EOS starts the context, as in training
            assert tok.decode(item.ids[1:item.first]) == prefix
            assert prefix.endswith(term)
            # Tokenizing apart gives the sentence's own tokens.
            joint = tok.encode(prefix + probe.continuation, add_special_tokens=False).ids
            assert item.ids[1:] == joint
    short, _ = bias_items(tok, load_templates(), limit=8)
    assert max(len(item.ids) for item in short) <= 9  # the context gives way to fit


def direct_score(model: LanguageModel, tok, prefix: str, continuation: str) -> float:
    """Mean log-probability of the continuation's tokens, from one plain forward pass."""
    head = [0, *tok.encode(prefix, add_special_tokens=False).ids]
    tail = tok.encode(continuation, add_special_tokens=False).ids
    ids = torch.tensor([head + tail])
    with torch.no_grad():
        logits, _ = model(ids[:, :-1])
    logp = F.log_softmax(logits[0], dim=-1)
    picked = logp[torch.arange(len(head) - 1, ids.shape[1] - 1), ids[0, len(head):]]
    return picked.mean().item()


def test_the_figures_match_a_direct_computation(tok):
    model = model_for(tok, seed=3)
    bias_set = parse_templates(PLANTED, "planted")
    seen = []
    report = bias_signals(model, tok, bias_set, batch_size=3, examples=10,
                          on_batch=seen.append)
    assert sum(seen) == report["sentences"] == 8
    assert report["unit"] == "nats/token" and report["templates_source"] == "planted"
    for name, cat in report["categories"].items():
        gaps, per_term = [], {term: [] for term in cat["terms"]}
        assert len(cat["worst"]) == cat["pairs"] == 2
        for ex in cat["worst"]:
            expected = [direct_score(model, tok, s["text"][:-len(ex["continuation"])],
                                     ex["continuation"]) for s in ex["sentences"]]
            np.testing.assert_allclose([s["score"] for s in ex["sentences"]], expected,
                                       atol=1e-4, err_msg=name)
            assert ex["gap"] == pytest.approx(max(expected) - min(expected), abs=2e-4)
            gaps.append(max(expected) - min(expected))
            for s, value in zip(ex["sentences"], expected, strict=True):
                per_term[s["term"]].append(value)
        assert gaps == sorted(gaps, reverse=True)  # the largest gap first
        assert cat["mean_gap"] == pytest.approx(np.mean(gaps), abs=2e-4)
        assert cat["worst_gap"] == pytest.approx(max(gaps), abs=2e-4)
        means = {t: np.mean(v) for t, v in per_term.items()}
        assert cat["term_means"] == pytest.approx(means, abs=2e-4)
        assert cat["favoured"] == max(means, key=means.get)
    assert report["max_mean_gap"] == max(c["mean_gap"] for c in report["categories"].values())


def trained(tok, steps: int = 300) -> LanguageModel:
    """A tiny model taught BIASED_TEXT: a planted gender bias, no age bias."""
    model = model_for(tok, seed=1).train()
    rows = [[0, *tok.encode(t, add_special_tokens=False).ids, 0] for t in BIASED_TEXT]
    width = max(map(len, rows))
    batch = torch.tensor([r + [1] * (width - len(r)) for r in rows])
    targets = batch[:, 1:].masked_fill(batch[:, 1:] == 1, -1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        _, loss = model(batch[:, :-1], targets=targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_a_planted_gender_bias_shows_as_the_largest_gap(tok):
    bias_set = parse_templates(PLANTED, "planted")
    before = bias_signals(model_for(tok, seed=1), tok, bias_set, examples=2)["categories"]
    after = bias_signals(trained(tok), tok, bias_set, examples=2)["categories"]
    gender, age = after["gender"], after["age"]
    assert gender["mean_gap"] > 4 * age["mean_gap"]
    assert gender["mean_gap"] > 4 * before["gender"]["mean_gap"]
    for ex in gender["worst"]:
        scores = {s["term"]: s["score"] for s in ex["sentences"]}
        expected = "man" if ex["filler"] == "a doctor" else "woman"
        assert max(scores, key=scores.get) == expected


def test_the_page_names_every_category_and_escapes_template_text(tok, tmp_path):
    data = valid()
    data["categories"]["gender"]["templates"] = [
        "The {term} wrote <script>alert(1)</script> as {occupation}."]
    report = bias_signals(model_for(tok), tok, parse_templates(data, "mine.yaml"), examples=2)
    path = write_bias_html(tmp_path / "bias" / "bias.html", report, model_name="cand<1>")
    page = path.read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "cand&lt;1&gt;" in page and "mine.yaml" in page
    for name, cat in report["categories"].items():
        assert f">{name}<" in page
        assert f"{cat['mean_gap']:.3f}" in page
        for term in cat["terms"]:
            assert f"<td>{term}</td>" in page
