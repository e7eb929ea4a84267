"""Benchmark: our generation against ``transformers``' ``generate``, on the same weights.

One randomly initialised :class:`training.model.LanguageModel` (``arch: gpt``) and the
``LlamaForCausalLM`` holding its weights (q/k/v and gate/up split, as ``training.export.hf``
exports them; a test checks the two mappings agree) complete the same random prompts
greedily, every one to exactly ``--new-tokens`` tokens (EOS does not stop any of them).
The contenders:

- ``engine``: :class:`serving.generate.Engine` with ``max_batch`` = the batch, as a server
  runs it: each prompt prefilled alone, then one batched decode step per token, each token
  streamed as text. Its prompts are text, so a stand-in word-level tokenizer (built in
  memory with ``tokenizers``: token ``"17"`` is id 17) maps ids to text and back exactly.
- ``model``: :meth:`LanguageModel.generate` at temperature 0: one batched prefill, then
  batched decode steps, no text.
- ``hf_dynamic``: ``generate`` with its default (dynamic) cache.
- ``hf_static``: ``generate`` with ``cache_implementation="static"``; on a GPU
  ``generate`` also compiles the decode forward (``reduce-overhead``: CUDA graphs) unless
  ``--no-compile``. On the CPU it runs eager.

Each call is timed whole, prefill included, after ``--warmup`` untimed calls (compilation
happens there); ``--repeats`` calls per contender run in the order A B C D, D C B A, ...;
tokens/s is batch * new tokens over the median call. Completions are compared with
``hf_dynamic``'s: the share of identical sequences and the matching prefix lengths (bf16
kernels that differ in summation order may turn a greedy choice late in a sequence).

Defaults by device: CPU: the ``small`` preset, fp32, all cores (``--threads 1,2`` runs
both). GPU: ``gpt2-124m``, bf16. Batches 1 and 16, 32-token prompts, 256 new tokens; the
model's context is stretched to fit prompt and completion where the preset's is shorter.
Goals (issue anchors, measured on an H200 for GPT-2 124M: ``generate`` 156 and 2,439
tokens/s at batches 1 and 16 with its default cache, 583 and 7,809 static and compiled):
on a GPU at least 1,000 tokens/s at batch 1 and 1.5x ``hf_static`` at batch 16; on a CPU
at least 1.5x ``hf_dynamic`` at every batch. Writes ``bench/results/generate_throughput.json``
after every batch. Imports torch, numpy, tokenizers, transformers and the repo's model and
serving modules only: a bare GPU machine with torch and transformers runs it.

Example::

    python bench/generate_throughput.py --device cpu --preset tiny --new-tokens 16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from serving.generate import Engine  # noqa: E402
from serving.sampling import SamplingParams  # noqa: E402
from training.model import LanguageModel, ModelConfig  # noqa: E402

CONTENDERS = ("engine", "model", "hf_dynamic", "hf_static")
OURS = ("engine", "model")
BASELINES = ("hf_dynamic", "hf_static")
REFERENCE = "hf_dynamic"  # the completions every other contender is compared with
EOS_ID, PAD_ID = 0, 1  # llmlake.tokenizer's special ids: prompts start with EOS
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
GPU_BATCH1_GOAL = 1000.0  # tokens/s at batch 1
GPU_RATIO_GOAL = 1.5  # over hf_static at batch 16
CPU_RATIO_GOAL = 1.5  # over hf_dynamic at every batch
ANCHORS_H200 = {"hf_dynamic": {"1": 156, "16": 2439}, "hf_static": {"1": 583, "16": 7809}}

Runner = Callable[[], torch.Tensor]  # one full generation: new token ids (B, N) on the CPU


def model_config(preset: str, prompt_tokens: int, new_tokens: int) -> ModelConfig:
    """The preset, its context stretched to hold the prompt and every new token."""
    context = max(ModelConfig.from_preset(preset).context, prompt_tokens + new_tokens)
    return ModelConfig.from_preset(preset, context=context)


def llama_weights(model: LanguageModel) -> dict[str, torch.Tensor]:
    """Our weights under ``LlamaForCausalLM``'s names (``training.export.hf`` does the
    same, but imports the lake's config stack, which a bare GPU machine lacks)."""
    sd = model.state_dict()
    out = {"model.embed_tokens.weight": sd["wte.weight"], "model.norm.weight": sd["norm.weight"]}
    for i in range(model.config.n_layer):
        src, dst = f"blocks.{i}.", f"model.layers.{i}."
        q, k, v = sd[src + "mix.qkv.weight"].chunk(3, dim=0)
        gate, up = sd[src + "mlp.gate_up.weight"].chunk(2, dim=0)
        names = {"input_layernorm": sd[src + "norm1.weight"], "self_attn.q_proj": q,
                 "self_attn.k_proj": k, "self_attn.v_proj": v,
                 "self_attn.o_proj": sd[src + "mix.out.weight"],
                 "post_attention_layernorm": sd[src + "norm2.weight"],
                 "mlp.gate_proj": gate, "mlp.up_proj": up,
                 "mlp.down_proj": sd[src + "mlp.out.weight"]}
        out.update({f"{dst}{name}.weight": t for name, t in names.items()})
    return {name: t.detach().float().contiguous() for name, t in out.items()}


def hf_llama(model: LanguageModel, device: str, dtype: torch.dtype) -> torch.nn.Module:
    """``LlamaForCausalLM`` computing ``model``, its generation config set never to stop
    at EOS (a ``generate`` argument cannot unset the model's own EOS)."""
    from transformers import AutoModelForCausalLM, GenerationConfig, LlamaConfig

    c = model.config
    config = LlamaConfig(
        vocab_size=c.vocab_size, hidden_size=c.n_embd, intermediate_size=c.hidden,
        num_hidden_layers=c.n_layer, num_attention_heads=c.n_head,
        num_key_value_heads=c.n_head, head_dim=c.head_dim, max_position_embeddings=c.context,
        rms_norm_eps=c.norm_eps, rope_theta=float(c.rope_theta),
        rope_parameters={"rope_type": "default", "rope_theta": float(c.rope_theta)},
        tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
        bos_token_id=EOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID)
    # dtype at construction keeps RoPE's inverse frequencies in fp32, as from_pretrained does.
    hf = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
    missing = hf.load_state_dict(llama_weights(model), strict=False).missing_keys
    if missing != ["lm_head.weight"]:  # tied to the embedding
        raise SystemExit(f"Llama weights missing: {', '.join(missing)}")
    hf.generation_config = GenerationConfig(bos_token_id=None, eos_token_id=None,
                                            pad_token_id=PAD_ID, do_sample=False)
    return hf.to(device).eval()


def stand_in_tokenizer(vocab_size: int):
    """A word-level ``tokenizers.Tokenizer`` whose token for id i is ``str(i)`` (0 and 1
    are EOS and PAD): prompts of ids become text and encode back to the same ids."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    from llmlake.tokenizer import EOS, PAD

    vocab = {EOS: EOS_ID, PAD: PAD_ID, **{str(i): i for i in range(2, vocab_size)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=PAD))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tok


def make_prompts(batch: int, length: int, vocab_size: int, seed: int) -> np.ndarray:
    """(batch, length) ids: EOS, then random ids other than EOS and PAD."""
    rng = np.random.default_rng(seed)
    body = rng.integers(2, vocab_size, size=(batch, length - 1))
    return np.concatenate([np.full((batch, 1), EOS_ID), body], axis=1)


def runners(model: LanguageModel, hf: torch.nn.Module, prompts: np.ndarray, new_tokens: int,
            device: str, compile_hf: bool) -> dict[str, Runner]:
    """One closure per contender, each generating ``new_tokens`` for every prompt."""
    idx = torch.as_tensor(prompts, device=device)
    mask = torch.ones_like(idx)
    n_prompt, batch = idx.shape[1], idx.shape[0]
    engine = Engine(model, stand_in_tokenizer(model.config.vocab_size), max_batch=batch,
                    max_new_tokens_cap=new_tokens, device=device)
    texts = [" ".join(map(str, row[1:])) for row in prompts.tolist()]  # Engine adds EOS
    params = SamplingParams(max_new_tokens=new_tokens, temperature=0, ignore_eos=True)

    def run_engine() -> torch.Tensor:
        return torch.tensor([c.token_ids for c in engine.generate(texts, params)])

    def run_model() -> torch.Tensor:
        return model.generate(idx, new_tokens, temperature=0)[:, n_prompt:].cpu()

    def run_hf(cache: str | None) -> Runner:
        extra = {"cache_implementation": cache, "disable_compile": not compile_hf}
        return lambda: hf.generate(input_ids=idx, attention_mask=mask, do_sample=False,
                                   max_new_tokens=new_tokens, **extra)[:, n_prompt:].cpu()

    return {"engine": run_engine, "model": run_model, "hf_dynamic": run_hf(None),
            "hf_static": run_hf("static")}


def time_runs(run: dict[str, Runner], warmup: int, repeats: int, device: str
              ) -> dict[str, dict]:
    """Each contender's call seconds and last completions; A B C D, D C B A, ... order."""
    out = {name: {"seconds": [], "cpu_seconds": [], "ids": None, "error": None} for name in run}
    for rep in range(-warmup, repeats):
        order = list(run) if rep % 2 == 0 else list(run)[::-1]
        for name in order:
            if out[name]["error"]:
                continue
            try:
                if device == "cuda":
                    torch.cuda.synchronize()
                start, cpu = time.perf_counter(), time.process_time()
                ids = run[name]()  # on the CPU: the copy waits for the device
                seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            except Exception as exc:  # one contender failing must not lose the others
                out[name]["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                continue
            out[name]["ids"] = ids
            if rep >= 0:
                out[name]["seconds"].append(seconds)
                out[name]["cpu_seconds"].append(cpu)
    return out


def match(reference: np.ndarray, other: np.ndarray) -> dict:
    """How far ``other``'s completions (B, N) follow ``reference``'s, row by row.

    >>> match(np.array([[1, 2, 3], [4, 5, 6]]), np.array([[1, 2, 3], [4, 9, 6]]))
    {'identical_share': 0.5, 'prefix_mean': 2.0, 'prefix_min': 1}
    """
    same = reference == other
    prefix = np.where(same.all(1), same.shape[1], same.argmin(1))  # first mismatch
    return {"identical_share": float(same.all(1).mean()),
            "prefix_mean": round(float(prefix.mean()), 1), "prefix_min": int(prefix.min())}


def summarise(spec: dict, runs: dict[str, dict]) -> dict:
    """The record of one batch: tokens/s, ratios, completion matches and goals."""
    tokens = spec["batch"] * spec["new_tokens"]
    record = dict(spec)
    for name, r in runs.items():
        if r["error"] or not r["seconds"]:
            record[name] = {"error": r["error"] or "no timed run", "tokens_per_s": None}
            continue
        median, cpu = statistics.median(r["seconds"]), statistics.median(r["cpu_seconds"])
        record[name] = {"tokens_per_s": round(tokens / median, 1),
                        "tokens_per_cpu_s": round(tokens / cpu, 1),
                        "ms_per_token": round(1000 * median / spec["new_tokens"], 3),
                        "runs_tokens_per_s": [round(tokens / s, 1) for s in r["seconds"]]}
    for key, rate in (("ratios", "tokens_per_s"), ("ratios_per_cpu_s", "tokens_per_cpu_s")):
        record[key] = {f"{o}/{b}": ratio(record, o, b, rate) for o in OURS for b in BASELINES}
    ref = runs[REFERENCE]["ids"]
    record["completions"] = {
        name: None if ref is None or runs[name]["ids"] is None
        else match(ref.numpy(), runs[name]["ids"].numpy())
        for name in CONTENDERS if name != REFERENCE}
    record["goals"] = goals(record)
    return record


def ratio(record: dict, num: str, den: str, rate: str = "tokens_per_s") -> float | None:
    a, b = record[num].get(rate), record[den].get(rate)
    return None if a is None or not b else round(a / b, 3)


def goals(record: dict) -> list[dict]:
    """The issue's goals that apply to this batch, for each of our contenders."""
    batch, gpu = record["batch"], record["device"] == "cuda"
    if gpu and batch == 1:
        goal, target = f">= {GPU_BATCH1_GOAL:,.0f} tokens/s", GPU_BATCH1_GOAL
    elif gpu and batch == 16:
        base = record["hf_static"]["tokens_per_s"]
        goal, target = f">= {GPU_RATIO_GOAL}x hf_static", base and GPU_RATIO_GOAL * base
    elif gpu:
        return []
    else:
        base = record["hf_dynamic"]["tokens_per_s"]
        goal, target = f">= {CPU_RATIO_GOAL}x hf_dynamic", base and CPU_RATIO_GOAL * base
    out = []
    for name in OURS:
        value = record[name]["tokens_per_s"]
        met = None if value is None or target is None else value >= target
        out.append({"contender": name, "goal": goal, "value": value,
                    "target": None if target is None else round(target, 1), "met": met})
    return out


def bench_batch(model: LanguageModel, hf: torch.nn.Module, spec: dict) -> dict:
    torch.set_num_threads(spec["threads"])
    prompts = make_prompts(spec["batch"], spec["prompt_tokens"], model.config.vocab_size,
                           spec["seed"] + spec["batch"])
    run = runners(model, hf, prompts, spec["new_tokens"], spec["device"], spec["compile"])
    return summarise(spec, time_runs(run, spec["warmup"], spec["repeats"], spec["device"]))


def build(args: argparse.Namespace) -> tuple[LanguageModel, torch.nn.Module]:
    """Our randomly initialised model and its Llama twin, both on the device in the dtype."""
    torch.manual_seed(args.seed)
    model = LanguageModel(model_config(args.preset, args.prompt_tokens, args.new_tokens))
    hf = hf_llama(model, args.device, DTYPES[args.dtype])
    return model.to(args.device, DTYPES[args.dtype]).eval(), hf


def machine(device: str) -> dict:
    import transformers

    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "numpy": np.__version__, "load": [round(x, 2) for x in os.getloadavg()],
            "gpu": torch.cuda.get_device_name() if device == "cuda" else None}


def report(records: list[dict], meta: dict, out: Path, quiet: bool = False) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**meta, "results": records}, indent=2) + "\n")
    if quiet:
        return
    r = records[-1]
    cells = "  ".join(f"{n} {r[n]['tokens_per_s'] or r[n]['error']}" for n in CONTENDERS)
    print(f"batch {r['batch']:>3} threads {r['threads']}: tokens/s {cells}", flush=True)
    print(f"  ratios {r['ratios']}\n  per CPU second {r['ratios_per_cpu_s']}")
    print(f"  completions vs {REFERENCE} {r['completions']}")
    for g in r["goals"]:
        print(f"  goal {g['contender']} {g['goal']}: {g['value']} vs {g['target']} "
              f"{'met' if g['met'] else 'NOT met'}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=("cpu", "cuda"),
                   default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--preset", default=None, help="small on CPU, gpt2-124m on GPU")
    p.add_argument("--dtype", choices=tuple(DTYPES), default=None, help="fp32 CPU, bf16 GPU")
    p.add_argument("--batch", default="1,16", help="batch sizes, comma-separated")
    p.add_argument("--prompt-tokens", type=int, default=32, help="EOS included")
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--warmup", type=int, default=1, help="untimed calls per contender")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per contender")
    p.add_argument("--threads", default=None, help="torch threads, comma-separated (all cores)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="hf_static's compiled forward (GPU only; on by default there)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results"
                   / "generate_throughput.json")
    args = p.parse_args(argv)
    gpu = args.device == "cuda"
    args.preset = args.preset or ("gpt2-124m" if gpu else "small")
    args.dtype = args.dtype or ("bf16" if gpu else "fp32")
    if args.compile and not gpu:
        p.error("--compile: generate compiles only on a GPU")
    args.compile = gpu if args.compile is None else args.compile
    if args.prompt_tokens < 1 or args.new_tokens < 1:
        p.error("--prompt-tokens and --new-tokens must be positive")
    return args


def main(argv: list[str] | None = None, quiet: bool = False) -> dict:
    """Run the benchmark; the result written to ``--out`` (also returned)."""
    args = parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = [int(t) for t in (args.threads or str(cores)).split(",")]
    model, hf = build(args)
    meta = {"machine": machine(args.device), "params": model.num_params(),
            "context": model.config.context, "anchors_h200": ANCHORS_H200}
    records = []
    for t in threads:
        for batch in (int(b) for b in args.batch.split(",")):
            spec = {"preset": args.preset, "device": args.device, "dtype": args.dtype,
                    "batch": batch, "threads": t, "prompt_tokens": args.prompt_tokens,
                    "new_tokens": args.new_tokens, "warmup": args.warmup,
                    "repeats": args.repeats, "compile": args.compile, "seed": args.seed}
            records.append(bench_batch(model, hf, spec))
            report(records, meta, args.out, quiet)
    return {**meta, "results": records}


if __name__ == "__main__":
    main()
