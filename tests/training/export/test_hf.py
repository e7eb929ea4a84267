"""The Hugging Face export: transformers loads it and computes exactly our model.

One tiny gpt model with random weights (larger than the initialisation's, norm gains not
all one, a non-default RoPE base and norm epsilon, so a dropped or misplaced setting shows
in the logits) is exported once; transformers' Llama and tokenizer must then agree with
ours on logits, greedy continuations and token ids. The rest covers what must not be
exported (a hybrid), the atomic replacement and the ``llmlake export`` command.
"""

from __future__ import annotations

import json
import random

import pytest
import torch
import yaml
from click.testing import CliRunner

from etl.tokenizer.bpe import train as train_tokenizer
from llmlake.cli import cli
from llmlake.config import LakeConfig, Params
from llmlake.config_eval import ExportConfig
from llmlake.stage import StageError
from llmlake.tokenizer import EOS, PAD, save
from training.checkpoint import save_model
from training.export import stage
from training.export.hf import ExportError, export_hf
from training.model import LanguageModel, ModelConfig

transformers = pytest.importorskip("transformers")

CONTEXT = 32
WORDS = ("amber brook cedar delta ember fjord glade harbor island juniper kestrel lagoon "
         "meadow north orchard prairie quarry river summit thicket upland valley willow "
         "the a of and to in over under beside near")
SENTENCE = "the amber river runs beside a quiet meadow <|endoftext|> near the summit"


def _texts(n: int = 300, seed: int = 0) -> list[str]:
    rng, words = random.Random(seed), WORDS.split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(6, 16))) for _ in range(n)]


def _model(vocab: int, arch: str = "gpt", seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    cfg = ModelConfig.from_preset("tiny", arch=arch, n_layer=3 if arch == "hybrid" else 2,
                                  n_embd=64, n_head=2, vocab_size=vocab, context=CONTEXT,
                                  init_std=0.1, rope_theta=500.0, norm_eps=1e-3)
    model = LanguageModel(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    return model.eval()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokenizer")
    save(train_tokenizer(_texts(), vocab_size=320), folder)
    return folder


@pytest.fixture(scope="module")
def tok(tokenizer_dir):
    from llmlake.tokenizer import load

    return load(tokenizer_dir)


def _model_folder(path, tokenizer_dir, tok, arch="gpt", seed=0, card=False):
    model = _model(tok.get_vocab_size(), arch, seed)
    folder = save_model(path, model, tokenizer_dir, lineage={"run": f"{arch}-{seed}"})
    if card:
        (folder / "README.md").write_text("# A test model\n")
    return folder, model


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tokenizer_dir, tok):
    base = tmp_path_factory.mktemp("export")
    folder, model = _model_folder(base / "model", tokenizer_dir, tok, card=True)
    out = export_hf(folder, base / "hf")
    hf, info = transformers.AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
    return {"folder": folder, "model": model, "out": out, "hf": hf.eval(), "info": info,
            "hf_tok": transformers.AutoTokenizer.from_pretrained(out)}


def test_transformers_loads_every_weight_and_nothing_else(exported):
    info = exported["info"]
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    assert not info["error_msgs"]
    assert type(exported["hf"]).__name__ == "LlamaForCausalLM"
    hf, model = exported["hf"], exported["model"]
    assert hf.get_output_embeddings().weight is hf.get_input_embeddings().weight  # tied
    assert hf.num_parameters() == model.num_params()


def test_logits_equal_ours(exported, tok):
    model, hf = exported["model"], exported["hf"]
    vocab = tok.get_vocab_size()
    gen = torch.Generator().manual_seed(1)
    batches = [torch.randint(0, vocab, (3, CONTEXT), generator=gen),  # the full context
               torch.randint(0, vocab, (1, 5), generator=gen),
               torch.tensor([tok.encode(SENTENCE).ids[:CONTEXT]])]
    with torch.no_grad():
        for idx in batches:
            ours, _ = model(idx)
            theirs = hf(idx).logits
            torch.testing.assert_close(theirs, ours, atol=1e-4, rtol=0)
    assert ours.std() > 0.1  # logits far from uniform: a wrong weight would show


def test_greedy_continuation_is_ours(exported, tok):
    model, hf = exported["model"], exported["hf"]
    for prompt in ("the amber", "river over the quarry and"):
        idx = torch.tensor([tok.encode(prompt).ids])
        new = CONTEXT - idx.shape[1]
        ours = model.generate(idx, new, temperature=0)
        theirs = hf.generate(idx, attention_mask=torch.ones_like(idx), do_sample=False,
                             max_new_tokens=new, min_new_tokens=new)
        assert theirs.tolist() == ours.tolist()


def test_tokenizer_encodes_and_decodes_as_ours(exported, tok):
    hf_tok = exported["hf_tok"]
    ours = tok.encode(SENTENCE).ids
    assert hf_tok(SENTENCE)["input_ids"] == ours  # no added BOS; "<|endoftext|>" is text
    assert hf_tok.decode(ours) == SENTENCE
    assert (hf_tok.eos_token_id, hf_tok.pad_token_id) == (tok.token_to_id(EOS),
                                                          tok.token_to_id(PAD))


def test_config_and_files(exported, tok):
    out, cfg = exported["out"], exported["model"].config
    hf_cfg = exported["hf"].config
    assert hf_cfg.rope_parameters["rope_theta"] == cfg.rope_theta
    assert hf_cfg.rms_norm_eps == cfg.norm_eps
    assert hf_cfg.tie_word_embeddings
    generation = json.loads((out / "generation_config.json").read_text())
    assert generation == {"bos_token_id": tok.token_to_id(EOS),
                          "eos_token_id": tok.token_to_id(EOS),
                          "pad_token_id": tok.token_to_id(PAD)}
    assert (out / "README.md").read_text() == (exported["folder"] / "README.md").read_text()
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["run"] == "gpt-0" and lineage["export"]["format"] == "hf"


def test_hybrid_is_refused_and_nothing_is_written(tmp_path, tokenizer_dir, tok):
    folder, _ = _model_folder(tmp_path / "model", tokenizer_dir, tok, arch="hybrid")
    with pytest.raises(ExportError, match=r"hybrid.*convolution.*gpt"):
        export_hf(folder, tmp_path / "hf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_new_export_replaces_the_old_one_whole(tmp_path, tokenizer_dir, tok):
    first, _ = _model_folder(tmp_path / "first", tokenizer_dir, tok, seed=0, card=True)
    second, _ = _model_folder(tmp_path / "second", tokenizer_dir, tok, seed=1)
    out = export_hf(first, tmp_path / "hf")
    export_hf(second, out)
    assert not (out / "README.md").exists()  # nothing of the first export is left
    assert json.loads((out / "lineage.json").read_text())["run"] == "gpt-1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first", "hf", "second"]
    with pytest.raises(ExportError, match="model folder itself"):
        export_hf(second, second)


def _params_file(tmp_path, **export) -> str:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"lake": {"artifacts": str(tmp_path / "artifacts")},
                                    "export": export}))
    return str(path)


def test_cli_exports_a_gpt_model(tmp_path, tokenizer_dir, tok):
    _model_folder(tmp_path / "artifacts" / "model", tokenizer_dir, tok)
    result = CliRunner().invoke(cli, ["--params", _params_file(tmp_path), "export",
                                      "--format", "hf"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "artifacts" / "hf"
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= {
        p.name for p in out.iterdir()}


def test_cli_refuses_a_hybrid_in_one_line(tmp_path, tokenizer_dir, tok):
    folder, _ = _model_folder(tmp_path / "hybrid", tokenizer_dir, tok, arch="hybrid")
    result = CliRunner().invoke(cli, ["--params", _params_file(tmp_path), "export",
                                      "--model", str(folder), "--out", str(tmp_path / "hf")])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "hybrid" in errors[0], result.output
    assert not (tmp_path / "hf").exists()


def test_a_missing_model_names_the_command_that_makes_it(tmp_path):
    result = CliRunner().invoke(cli, ["--params", _params_file(tmp_path), "export"])
    assert result.exit_code == 1
    assert "does not exist" in result.output and "llmlake train" in result.output


def _params(tmp_path, **export) -> Params:
    return Params(lake=LakeConfig(artifacts=str(tmp_path / "artifacts")),
                  export=ExportConfig(**export))


def test_the_champion_is_exported_when_no_model_is_named(tmp_path, tokenizer_dir, tok):
    _model_folder(tmp_path / "artifacts" / "model", tokenizer_dir, tok, seed=0)
    champion, _ = _model_folder(tmp_path / "models" / "champ", tokenizer_dir, tok, seed=1)
    (tmp_path / "artifacts" / "champion.json").write_text(json.dumps({"model": str(champion)}))
    report = stage.run(_params(tmp_path))
    out = tmp_path / "artifacts" / "hf"
    assert report["out"] == str(out) and report["model"] == str(champion)
    assert json.loads((out / "lineage.json").read_text())["run"] == "gpt-1"
    named = stage.run(_params(tmp_path, model=str(tmp_path / "artifacts" / "model"),
                              out=str(tmp_path / "named")))
    assert json.loads((tmp_path / "named" / "lineage.json").read_text())["run"] == "gpt-0"
    assert named["params"] == report["params"] > 0


def test_a_broken_champion_pointer_is_one_line(tmp_path):
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "champion.json").write_text(json.dumps({"path": "x"}))
    with pytest.raises(StageError, match=r"champion\.json: not a champion pointer"):
        stage.run(_params(tmp_path))
