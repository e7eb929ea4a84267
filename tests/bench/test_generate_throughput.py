"""The generation benchmark on the CPU: a tiny run end to end (the JSON it writes, the
completions of all four contenders agreeing), its weight mapping against the exporter's,
its defaults per device, and that it imports nothing a bare GPU machine lacks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from bench import generate_throughput as bench
from training.export.hf import llama_config, llama_state_dict
from training.model import LanguageModel, ModelConfig

NEW_TOKENS = 6


@pytest.fixture
def threads():
    """The benchmark sets torch's thread count; the rest of the session keeps its own."""
    before = torch.get_num_threads()
    yield 1
    torch.set_num_threads(before)


@pytest.mark.slow  # imports transformers and generates with four contenders: several seconds
def test_tiny_run(tmp_path, threads):
    out = tmp_path / "generate.json"
    result = bench.main(["--device", "cpu", "--preset", "tiny", "--batch", "1,2",
                         "--prompt-tokens", "5", "--new-tokens", str(NEW_TOKENS),
                         "--warmup", "0", "--repeats", "2", "--threads", str(threads),
                         "--out", str(out)], quiet=True)
    assert json.loads(out.read_text()) == result
    assert result["machine"]["torch"] == torch.__version__ and result["machine"]["gpu"] is None
    assert result["params"] == LanguageModel(ModelConfig.from_preset("tiny")).num_params()
    assert [(r["batch"], r["threads"], r["dtype"]) for r in result["results"]] == [
        (1, 1, "fp32"), (2, 1, "fp32")]
    for record in result["results"]:
        for name in bench.CONTENDERS:
            assert "error" not in record[name], record[name]
            assert record[name]["tokens_per_s"] > 0
            assert len(record[name]["runs_tokens_per_s"]) == 2
        # fp32 on the CPU: every contender's greedy completions are hf_dynamic's, whole.
        for name in ("engine", "model", "hf_static"):
            assert record["completions"][name] == {
                "identical_share": 1.0, "prefix_mean": NEW_TOKENS, "prefix_min": NEW_TOKENS}
        assert record["ratios"]["engine/hf_dynamic"] == pytest.approx(
            record["engine"]["tokens_per_s"] / record["hf_dynamic"]["tokens_per_s"], rel=1e-2)
        assert [(g["contender"], g["met"]) for g in record["goals"]] == [
            ("engine", record["ratios"]["engine/hf_dynamic"] >= bench.CPU_RATIO_GOAL),
            ("model", record["ratios"]["model/hf_dynamic"] >= bench.CPU_RATIO_GOAL)]


def test_llama_weights_are_the_exporters():
    """The benchmark maps weights itself (the exporter's imports need the lake's config
    stack); both mappings must give the same tensors under the same names."""
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig.from_preset("tiny", n_layer=2, n_embd=64, n_head=2,
                                                  vocab_size=96, context=32))
    ours, exported = bench.llama_weights(model), llama_state_dict(model)
    assert sorted(ours) == sorted(exported)
    for name, tensor in exported.items():
        assert torch.equal(ours[name], tensor), name
    hf = bench.hf_llama(model, "cpu", torch.float32)
    expected = llama_config(model.config, bos_id=0, eos_id=0, pad_id=1)
    for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "num_key_value_heads", "head_dim", "rms_norm_eps",
                "max_position_embeddings", "tie_word_embeddings"):
        assert getattr(hf.config, key) == expected[key], key
    idx = torch.randint(2, 96, (2, 12))
    with torch.no_grad():
        assert torch.allclose(hf(idx).logits, model(idx)[0], atol=1e-5)


def test_stand_in_tokenizer_round_trips_prompts():
    prompts = bench.make_prompts(3, 7, vocab_size=50, seed=1)
    assert (prompts[:, 0] == bench.EOS_ID).all() and (prompts[:, 1:] >= 2).all()
    assert not (prompts == bench.make_prompts(3, 7, vocab_size=50, seed=2)).all()
    tok = bench.stand_in_tokenizer(50)
    for row in prompts.tolist():
        assert tok.encode(" ".join(map(str, row[1:])), add_special_tokens=False).ids == row[1:]


def test_match_reports_prefixes():
    ref = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 9, 9, 9]])
    other = np.array([[1, 2, 3, 4], [0, 6, 7, 8], [9, 9, 9, 0]])
    assert bench.match(ref, other) == {"identical_share": pytest.approx(1 / 3),
                                       "prefix_mean": 2.3, "prefix_min": 0}
    assert bench.match(ref, ref)["prefix_min"] == 4


def test_defaults_by_device():
    cpu, gpu = bench.parse_args(["--device", "cpu"]), bench.parse_args(["--device", "cuda"])
    assert (cpu.preset, cpu.dtype, cpu.compile, cpu.new_tokens) == ("small", "fp32", False, 256)
    assert (gpu.preset, gpu.dtype, gpu.compile, gpu.batch) == ("gpt2-124m", "bf16", True, "1,16")
    with pytest.raises(SystemExit):
        bench.parse_args(["--device", "cpu", "--compile"])
    # The small presets' context is stretched to hold prompt and completion.
    assert bench.model_config("small", 32, 256).context == 288
    assert bench.model_config("gpt2-124m", 32, 256).context == 1024


def test_imports_only_what_a_gpu_machine_has():
    """Beyond torch, numpy and tokenizers (transformers is imported where it is used),
    only the repo's own packages: no yaml, pyspark or other pipeline dependency."""
    code = ("import sys, torch, numpy, tokenizers; base = set(sys.modules); "
            "import bench.generate_throughput; "
            "print(' '.join(sorted({n.split('.')[0] for n in set(sys.modules) - base})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=bench.ROOT).stdout.split()
    assert {"bench", "serving", "training"} <= set(out)
    third_party = set(out) - set(sys.stdlib_module_names) - {"bench", "serving", "training",
                                                             "llmlake"}
    assert not third_party


@pytest.mark.gpu
def test_tiny_run_on_gpu(tmp_path):
    """bf16 on a GPU: every contender runs; greedy may part late, so only shares are checked."""
    result = bench.main(["--device", "cuda", "--preset", "tiny", "--batch", "2",
                         "--new-tokens", str(NEW_TOKENS), "--warmup", "1", "--repeats", "1",
                         "--no-compile", "--out", str(tmp_path / "g.json")], quiet=True)
    (record,) = result["results"]
    assert all("error" not in record[name] for name in bench.CONTENDERS)
    assert all(0 <= m["identical_share"] <= 1 for m in record["completions"].values())
    assert [g["goal"] for g in record["goals"]] == []  # batch 2: no GPU goal applies
