"""The model card (training.evaluate.card): valid front matter whose model-index holds the
measured values, every table version and data count of the lineage, thin lineage, escaping,
and an atomic write."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import yaml

from training.evaluate import card
from training.evaluate.card import cell, fmt, render_card, write_card


def metrics(ppl: float, bpb: float, acc: float, docs: int = 96) -> dict:
    return {"documents": docs, "tokens": 52_000, "bytes": 282_000, "nll": 1.0, "loss": 4.6,
            "perplexity": ppl, "bits_per_byte": bpb, "accuracy": acc}


@pytest.fixture
def lineage() -> dict:
    """A model trained by the current train stage: upstream tables and a data summary."""
    return {
        "run": "train-0123abcd",
        "tables": {"gold/sequences": {"table": "lake/gold/sequences", "version": 7,
                                      "tokenizer": "f" * 64}},
        "upstream": {
            "gold/sequences": {"path": "lake/gold/sequences", "version": 7, "stage": "tokenize"},
            "gold/documents": {"path": "lake/gold/documents", "version": 5, "stage": "dedup"},
            "silver/documents": {"path": "lake/silver/documents", "version": 3,
                                 "stage": "clean"},
            "bronze/documents": {"path": "lake/bronze/documents", "version": 11,
                                 "stage": "ingest"}},
        "data": {
            "ingest": {"files": 2, "per_file": {
                "raw/crawl-0.warc.gz": {"read": 2817, "documents": 900, "quarantined": 2,
                                        "skipped": 1915},
                "raw/part-0.jsonl": {"read": 151, "documents": 150, "quarantined": 1,
                                     "skipped": 0}},
                "records": {"read": 2968, "written": 1050, "documents": 1050},
                "quarantined": {"invalid_json": 1, "truncated_record": 2},
                "skipped": {"warc_type:request": 1900, "http_status:404": 15}},
            "clean": {"documents": {"total": 1050, "kept": 861, "dropped": 189},
                      "dropped_by_reason": {"gopher_stop_words": 117, "lang_not_allowed": 72},
                      "kept_languages": {"de": 61, "en": 800},
                      "pii_redactions": {"email": 143, "phone": 37}},
            "dedup": {"removed_total": {"exact": 36, "near": 25}, "gold_documents": 800,
                      "clusters_with_copies": 53, "splits": {"train": 700, "val": 50,
                                                             "test": 50}},
            "tokenizer": {"vocab_size": 8192, "train_documents": 700,
                          "tokenizer_sha256": "f" * 64},
            "tokenize": {"seq_len": 257, "splits": {
                "train": {"tokens": 1_049_703, "sequences": 4084, "documents": 700},
                "val": {"tokens": 52_743, "sequences": 205, "documents": 50},
                "test": {"tokens": 53_622, "sequences": 208, "documents": 50}}}},
        "params": {"model": {"preset": "tiny", "arch": "gpt"},
                   "train": {"max_steps": 200, "batch_size": 8, "grad_accum": 2,
                             "num_workers": 2, "context": 256, "lr": 0.003,
                             "warmup_steps": 20, "min_lr_ratio": 0.1, "beta1": 0.9,
                             "beta2": 0.95, "weight_decay": 0.1, "grad_clip": 1.0,
                             "use_gpu": False, "dtype": "auto", "data": "shards", "seed": 0}},
        "model": {"arch": "gpt", "vocab_size": 8192, "context": 256, "n_layer": 4,
                  "n_head": 4, "n_embd": 128, "mlp_hidden": 0, "attn_every": 3,
                  "conv_kernel": 4},
        "git": {"revision": "5370c133", "dirty": False},
        "parent": None, "step": 200, "tokens": 819_200, "nodes": ["10.0.0.1", "10.0.0.1"],
    }


@pytest.fixture
def evaluation() -> dict:
    return {
        "model": {"path": "artifacts/model", "run": "train-0123abcd", "weights_sha256": "a" * 64,
                  "params": 1_234_567, "arch": "gpt"},
        "data": {"gold/documents": {"path": "lake/gold/documents", "version": 5},
                 "bronze/documents": {"path": "lake/bronze/documents", "version": 11}},
        "val": {**metrics(99.51, 1.234, 0.21),
                "by_lang": {"en": metrics(95.0, 1.2, 0.22, 45), "de": metrics(180.0, 1.9, 0.1, 5)},
                "by_source": {"warc": metrics(101.0, 1.25, 0.2, 40)}},
        "test": {**metrics(103.2, 1.251, 0.205), "by_lang": {}, "by_source": {}},
        "tasks": {"next_sentence": {"examples": 300, "skipped": 0, "problems": [],
                                    "accuracy": 0.4, "accuracy_ci": [0.35, 0.45],
                                    "macro_f1": 0.39, "macro_f1_ci": [0.33, 0.44],
                                    "chance": 0.25, "normalize": "bytes"}},
        "bias": {"max_mean_gap": 0.31, "categories": {"gender": 0.12, "religion": 0.31}},
    }


@pytest.fixture
def bias() -> dict:
    return {"categories": {
        "gender": {"mean_gap": 0.12, "worst_gap": 0.58, "pairs": 48,
                   "term_means": {"man": -3.4, "woman": -3.1}, "favoured": "woman",
                   "worst": []},
        "religion": {"mean_gap": 0.31, "worst_gap": 0.97, "pairs": 60,
                     "term_means": {"Christian": -3.9, "Jewish": -3.6, "Muslim": -4.2},
                     "worst": []}},
        "max_mean_gap": 0.31, "sentences": 216, "templates_source": "packaged",
        "unit": "nats/token"}


def front(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def index_values(meta: dict) -> dict[tuple[str, str], float]:
    """(dataset split or name, metric type) -> value, over the single model-index entry."""
    (entry,) = meta["model-index"]
    return {(r["dataset"].get("split") or r["dataset"]["name"], m["type"]): m["value"]
            for r in entry["results"] for m in r["metrics"]}


def test_front_matter_parses_and_the_model_index_holds_the_measured_values(
        lineage, evaluation, bias):
    meta = front(render_card(lineage, evaluation, bias))
    assert meta["language"] == ["en", "de"]  # kept languages, most documents first
    assert meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "text-generation"
    assert {"llmlake", "causal-lm", "gpt"} <= set(meta["tags"])
    assert meta["model-index"][0]["name"] == "train-0123abcd"
    expected = {(split, key): evaluation[split][key] for split in ("val", "test")
                for key in ("perplexity", "bits_per_byte")}
    expected |= {("next_sentence", "accuracy"): 0.4, ("next_sentence", "f1"): 0.39}
    assert index_values(meta) == expected
    for result in meta["model-index"][0]["results"]:
        assert result["task"]["type"] == "text-generation"
        assert {"name", "type"} <= set(result["dataset"])


def test_numpy_metrics_and_unmeasured_ones(lineage, evaluation, bias):
    """A numpy scalar is still a number in the YAML; a None metric is left out of the index
    and reads "not recorded" in the tables."""
    evaluation["tasks"]["next_sentence"]["accuracy"] = np.float64(0.4)
    evaluation["test"]["perplexity"] = None
    text = render_card(lineage, evaluation, bias)
    values = index_values(front(text))
    assert values[("next_sentence", "accuracy")] == 0.4
    assert ("test", "perplexity") not in values
    assert ("test", "bits_per_byte") in values
    assert re.search(r"^\| test \| 96 \| 52,000 \| not recorded \| 1\.251 \|", text, re.M)


def test_the_card_names_every_table_version(lineage, evaluation, bias):
    text = render_card(lineage, evaluation, bias)
    seq = lineage["tables"]["gold/sequences"]
    assert f"| gold/sequences | {seq['table']} | {seq['version']} |" in text
    for table, info in lineage["upstream"].items():
        assert f"| {table} | {info['path']} | {info['version']} |" in text


def test_a_broken_upstream_chain_is_reported(lineage, evaluation, bias):
    lineage["upstream"] = {"error": "tokenize read gold/documents version 4, but ..."}
    text = render_card(lineage, evaluation, bias)
    assert "tokenize read gold/documents version 4" in text
    assert "| gold/sequences | lake/gold/sequences | 7 |" in text


def test_drop_reasons_duplicates_and_counts_appear(lineage, evaluation, bias):
    text = render_card(lineage, evaluation, bias)
    data = lineage["data"]
    for reason, n in data["clean"]["dropped_by_reason"].items():
        assert f"| {reason} | {n} |" in text
    for reason, n in {**data["ingest"]["quarantined"], **data["ingest"]["skipped"]}.items():
        assert f"| {reason} | {fmt(n)} |" in text
    for kind, n in data["clean"]["pii_redactions"].items():
        assert f"| {kind} | {n} |" in text
    assert "| dedup | 861 | 800 | 36 exact and 25 near duplicates |" in text
    assert "| clean | 1,050 | 861 |" in text
    assert "| raw/crawl-0.warc.gz | 2,817 | 900 | 2 | 1,915 |" in text
    assert "| train | 700 | 1,049,703 | 4,084 |" in text


def test_training_procedure_and_evaluation_sections(lineage, evaluation, bias):
    text = render_card(lineage, evaluation, bias)
    assert "32 sequences of 256 tokens per step" in text  # 8 x 2 accumulation x 2 workers
    assert "5370c133" in text and "819,200" in text
    assert "| val | de | 5 | 52,000 | 180 | 1.9 | 0.1 |" in text
    assert "| next_sentence | 300 | 0 | 0.4 [0.35, 0.45] | 0.39 [0.33, 0.44] | 0.25 |" in text


def test_limitations_follow_the_data(lineage, evaluation, bias):
    text = render_card(lineage, evaluation, bias)
    limits = text.split("## Limitations")[1].split("## How to load")[0]
    assert "1,234,567 parameters" in limits and "1,049,703 tokens" in limits
    assert "English-centric: 93% of the documents" in limits  # 800 of 861
    assert "(180 redactions)" in limits
    lineage["data"]["clean"]["kept_languages"] = {"en": 500, "de": 361}
    mixed = render_card(lineage, evaluation, bias).split("## Limitations")[1]
    assert "-centric" not in mixed


def test_bias_section_names_the_favoured_term(lineage, evaluation, bias):
    text = render_card(lineage, evaluation, bias)
    # The report's favoured term; without one, the highest mean log-likelihood.
    assert "| religion | 60 | 0.31 | 0.97 | Jewish |" in text
    assert "| gender | 48 | 0.12 | 0.58 | woman |" in text
    # Without the bias report, the evaluation's mean gaps still show.
    thin = render_card(lineage, evaluation, {})
    assert re.search(r"^\| religion \| not recorded \| 0\.31 \|", thin, re.M)


def test_a_hybrid_card_claims_no_transformers_loading(lineage, evaluation, bias):
    lineage["model"]["arch"] = evaluation["model"]["arch"] = "hybrid"
    text = render_card(lineage, evaluation, bias)
    meta = front(text)
    assert "library_name" not in meta
    assert "hybrid" in meta["tags"]
    assert "AutoModelForCausalLM" not in text
    assert "hybrid model has no transformers equivalent" in text
    assert "load_model(" in text


def test_a_warm_started_model_names_its_parent(lineage, evaluation, bias):
    lineage["parent"] = {"path": "models/base", "weights_sha256": "b" * 64, "run": "train-p",
                         "git": None}
    text = render_card(lineage, evaluation, bias)
    assert "Warm-started from the model at `models/base`" in text and "b" * 64 in text


def test_thin_lineage_still_renders(lineage, evaluation):
    """An older model: no upstream, no data summary; no tasks, no bias, a split missing."""
    for key in ("upstream", "data", "nodes", "parent"):
        del lineage[key]
    del evaluation["tasks"], evaluation["bias"], evaluation["test"]
    text = render_card(lineage, evaluation, {})
    meta = front(text)
    assert "language" not in meta
    assert set(index_values(meta)) == {("val", "perplexity"), ("val", "bits_per_byte")}
    assert "| gold/sequences | lake/gold/sequences | 7 |" in text
    assert "not recorded" in text.lower()
    assert "### Tasks" not in text


def test_nothing_at_all_still_renders():
    meta = front(render_card({}, {}, {}))
    assert "model-index" not in meta and "library_name" not in meta


def test_a_pipe_in_a_value_is_escaped(lineage, evaluation, bias):
    files = lineage["data"]["ingest"]["per_file"]
    files["raw/a|b.jsonl"] = files.pop("raw/part-0.jsonl")
    evaluation["val"]["by_source"]["x|y"] = metrics(1.0, 1.0, 1.0)
    text = render_card(lineage, evaluation, bias)
    assert "| raw/a\\|b.jsonl |" in text and "| x\\|y |" in text
    # Every row of a table has its header's number of (unescaped) column bars.
    tables = re.findall(r"(?:^\|.*\|\n)+", text, re.M)
    assert tables
    for table in tables:
        counts = {len(re.findall(r"(?<!\\)\|", row)) for row in table.splitlines()}
        assert len(counts) == 1, table


def test_numbers_are_readable():
    assert fmt(1_049_703) == "1,049,703"
    assert fmt(99.5123) == "99.51"
    assert fmt(12_345.6) == "12,346"
    assert fmt(np.float32(0.000123456)) == "0.0001235"
    assert fmt(None) == "not recorded"
    assert cell("a|b\nc") == "a\\|b c"


def test_write_card_writes_the_readme_atomically(tmp_path, lineage, evaluation, bias,
                                                 monkeypatch):
    path = write_card(tmp_path, lineage, evaluation, bias)
    assert path == tmp_path / "README.md"
    assert path.read_text() == render_card(lineage, evaluation, bias)
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]  # no temporary left behind
    first = path.read_text()

    changed = copy.deepcopy(lineage)
    changed["run"] = "train-second"
    write_card(tmp_path, changed, evaluation, bias)
    assert "train-second" in path.read_text()

    # A write that fails half-way keeps the card that was there, and leaves no temporary.
    def half(fh_path, fill):
        def broken(fh):
            fill(fh)
            raise OSError("disk full")
        return original(fh_path, broken)

    original = card.write_atomic
    monkeypatch.setattr(card, "write_atomic", half)
    with pytest.raises(OSError, match="disk full"):
        write_card(tmp_path, lineage, evaluation, bias)
    assert "train-second" in path.read_text() and path.read_text() != first
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]
