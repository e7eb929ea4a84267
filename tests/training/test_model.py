"""The language model (training.model, training.conv) and the accelerator table
(training.hardware): shapes, causality, cached decoding, learning, counts, configuration."""

from __future__ import annotations

import ast
import math
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from training import hardware
from training.loss import cross_entropy
from training.model import PRESETS, LanguageModel, ModelConfig

ROOT = Path(__file__).resolve().parents[2]
ARCHS = ["gpt", "hybrid"]


pytestmark = pytest.mark.usefixtures("one_thread")


def small(arch: str, **overrides) -> ModelConfig:
    """A model small enough for many steps in a test; the hybrid has conv and attention."""
    dims = {"vocab_size": 97, "context": 32, "n_layer": 3, "n_head": 4, "n_embd": 32,
            "attn_every": 3, "mlp_hidden": 64, **overrides}
    return ModelConfig(arch=arch, **dims)


def model_of(config: ModelConfig, seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(config).eval()


@pytest.mark.parametrize("arch", ARCHS)
def test_shapes_and_loss(arch):
    model = model_of(small(arch))
    idx = torch.randint(0, 97, (3, 20))
    logits, loss = model(idx)
    assert logits.shape == (3, 20, 97) and loss is None
    logits, loss = model(idx, targets=idx)
    assert loss.shape == () and math.isfinite(loss.item())
    kinds = [b.attention for b in model.blocks]
    assert kinds == ([True] * 3 if arch == "gpt" else [False, False, True])


@pytest.mark.parametrize("arch", ARCHS)
def test_causal(arch):
    """Changing token t changes no logits before t, and does change those from t on."""
    model = model_of(small(arch))
    idx = torch.randint(0, 97, (2, 24))
    changed = idx.clone()
    changed[:, 15] = (idx[:, 15] + 1) % 97
    with torch.no_grad():
        a, _ = model(idx)
        b, _ = model(changed)
    torch.testing.assert_close(a[:, :15], b[:, :15], rtol=0, atol=1e-6)
    assert (a[:, 15:] - b[:, 15:]).abs().amax() > 1e-4


@pytest.mark.parametrize("arch", ARCHS)
def test_cached_decoding_equals_full_forward(arch):
    """Prefill, a second chunk (an explicit mask over earlier tokens), then one token at
    a time: every logit as the full forward's; after reset() the same again."""
    model = model_of(small(arch))
    idx = torch.randint(0, 97, (2, 30))
    cache = model.new_cache(batch_size=2)
    with torch.no_grad():
        full, _ = model(idx)
        for _ in range(2):
            parts = [model(idx[:, :7], cache=cache)[0], model(idx[:, 7:11], cache=cache)[0]]
            parts += [model(idx[:, t:t + 1], cache=cache)[0] for t in range(11, 30)]
            assert cache.pos == 30
            torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=0, atol=1e-5)
            cache.reset()
    if arch == "hybrid":  # the conv blocks' decode state is in the cache, not elsewhere
        assert [s is None for s in cache.conv] == [False, False, True]
        assert [k is None for k in cache.k] == [True, True, False]


@pytest.mark.parametrize("arch", ARCHS)
def test_rows_at_different_lengths(arch):
    """A server's slots: rows prefilled one at a time to different lengths, then decoded
    together, each at its own position; a finished row's slot taken over by another row
    (copy_row). Every logit is the full forward's over that row's own sequence."""
    model = model_of(small(arch))
    seqs = torch.randint(0, 97, (3, 30))
    with torch.no_grad():
        full, _ = model(seqs)
    cache = model.new_cache(batch_size=3)
    starts = [5, 12, 1]
    got = [[] for _ in starts]
    with torch.no_grad():
        for row, n in enumerate(starts):
            logits, _ = model(seqs[row:row + 1, :n], cache=cache.rows(row, row + 1))
            got[row].append(logits[0])
        assert cache.lengths.tolist() == starts and cache.pos == 12
        for step in range(10):  # all three rows decode together: one token each
            token = torch.stack([seqs[r, n + step] for r, n in enumerate(starts)])[:, None]
            logits, _ = model(token, cache=cache)
            for row in range(3):
                got[row].append(logits[row])
        cache.copy_row(2, 0)  # row 0 retires; row 2 moves into its slot
        for step in range(10, 15):  # the two rows left decode on as rows 0 and 1
            token = seqs[[2, 1], [starts[2] + step, starts[1] + step]][:, None]
            logits, _ = model(token, cache=cache.rows(0, 2))
            got[2].append(logits[0])
            got[1].append(logits[1])
    assert cache.lengths.tolist() == [16, 27, 11]
    for row, n in enumerate(starts):
        decoded = torch.cat(got[row])
        torch.testing.assert_close(decoded, full[row, :len(decoded)], rtol=0, atol=1e-5)
        assert len(decoded) == n + (10 if row == 0 else 15)


def test_cache_limits():
    model = model_of(small("hybrid"))
    cache = model.new_cache(batch_size=1, max_len=8)
    model(torch.zeros(1, 6, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="exceeds the cache length 8"):
        model(torch.zeros(1, 3, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="max_len"):
        model.new_cache(batch_size=1, max_len=33)
    with pytest.raises(ValueError, match="exceeds the context length 32"):
        model(torch.zeros(1, 33, dtype=torch.long))


def test_generate_greedy_matches_full_forward():
    model = model_of(small("hybrid"))
    prompt = torch.randint(0, 97, (2, 5))
    out = model.generate(prompt, max_new_tokens=6, temperature=0)
    assert out.shape == (2, 11) and torch.equal(out[:, :5], prompt)
    with torch.no_grad():
        for t in range(5, 11):
            logits, _ = model(out[:, :t])
            assert torch.equal(logits[:, -1].argmax(-1), out[:, t])
    sampled = model.generate(prompt, max_new_tokens=3, temperature=0.8, top_k=5)
    assert sampled.shape == (2, 8)


@pytest.mark.parametrize("arch", ARCHS)
def test_overfits_one_batch(arch):
    """A few hundred AdamW steps memorise one small batch: forward, loss and backward
    learn together (a broken gradient anywhere stalls this)."""
    model = model_of(small(arch)).train()
    torch.manual_seed(1)
    data = torch.randint(0, 97, (4, 25))
    x, y = data[:, :-1], data[:, 1:]
    opt = model.configure_optimizer(weight_decay=0.0, lr=1e-2, betas=(0.9, 0.95),
                                    device_type="cpu")
    first = None
    for _ in range(300):
        _, loss = model(x, targets=y)
        first = first or loss.item()
        if loss.item() < 0.05:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    assert first > 4.0  # about ln(97) = 4.6 at initialisation
    assert loss.item() < 0.05


def test_ignore_index():
    """Targets of -1 (padding) add nothing to the loss or its gradient."""
    model = model_of(small("gpt"))
    idx = torch.randint(0, 97, (2, 12))
    targets = torch.randint(0, 97, (2, 12))
    targets[0, 3:] = -1
    targets[1, :5] = -1
    logits, loss = model(idx, targets=targets)
    keep = targets != -1
    torch.testing.assert_close(loss, F.cross_entropy(logits[keep], targets[keep]))
    (grad,) = torch.autograd.grad(loss, logits)
    assert grad[~keep].abs().max() == 0 and grad[keep].abs().max() > 0
    # The last token of a row feeds only the last prediction: its change moves the loss
    # while that target counts, and not once it is -1.
    scrambled = idx.clone()
    scrambled[1, 11] = (idx[1, 11] + 1) % 97
    assert not torch.equal(loss, model(scrambled, targets=targets)[1])
    targets[1, 11] = -1
    torch.testing.assert_close(model(idx, targets=targets)[1],
                               model(scrambled, targets=targets)[1], rtol=0, atol=0)


def test_cross_entropy_matches_library():
    """Value and gradient of the loss equal F.cross_entropy(ignore_index=-1)."""
    torch.manual_seed(0)
    logits = torch.randn(40, 13, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 13, (40,))
    targets[::3] = -1
    ours = cross_entropy(logits, targets)
    (g_ours,) = torch.autograd.grad(ours * 2.5, logits)
    ref = F.cross_entropy(logits, targets, ignore_index=-1)
    (g_ref,) = torch.autograd.grad(ref * 2.5, logits)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(g_ours, g_ref)


def test_gpt2_124m_parameter_count():
    """Built on the meta device: counts without allocating 0.5 GB."""
    config = ModelConfig.from_preset("gpt2-124m")
    with torch.device("meta"):
        model = LanguageModel(config)
    V, C, L, H = 50304, 768, 12, config.hidden
    assert H == 2048  # 8/3 * 768 = 2048, already a multiple of 64
    per_layer = 3 * C * C + C * C + 2 * C * H + H * C + 2 * C  # qkv, out, gate/up, down, norms
    assert model.num_params() == V * C + L * per_layer + C  # the head is the embedding
    assert model.num_params(exclude_embeddings=True) == L * per_layer + C
    assert abs(model.num_params() - 124e6) < 1e6


def test_flops_per_token():
    gpt = ModelConfig.from_preset("gpt2-124m")
    hybrid = ModelConfig.from_preset("gpt2-124m", arch="hybrid", attn_every=3)
    with torch.device("meta"):
        a, b = LanguageModel(gpt), LanguageModel(hybrid)
    assert a.flops_per_token() == 6 * a.num_params() + 12 * 12 * 768 * 1024
    assert b.flops_per_token() == 6 * b.num_params() + 12 * 4 * 768 * 1024  # 4 attention
    assert 0 < b.flops_per_token() < a.flops_per_token()
    assert b.num_params() < a.num_params()  # a conv mixer: 3C^2 + C*K against 4C^2


def test_init_and_optimizer_groups():
    config = ModelConfig.from_preset("small", vocab_size=512)
    model = model_of(config)
    std = config.init_std
    assert model.wte.weight.std().item() == pytest.approx(std, rel=0.05)
    out = model.blocks[0].mlp.out.weight.std().item()
    assert out == pytest.approx(std / math.sqrt(2 * config.n_layer), rel=0.05)
    opt = model.configure_optimizer(0.1, 1e-3, (0.9, 0.95), "cpu")
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"])
    assert all(p.dim() == 1 for p in no_decay["params"])
    assert len(no_decay["params"]) == 2 * config.n_layer + 1  # the RMSNorm gains
    n = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert n == model.num_params()


@pytest.mark.parametrize("arch", ARCHS)
def test_bf16_autocast(arch):
    """Mixed precision trains and decodes (RoPE tables follow the activations' dtype)."""
    model = model_of(small(arch)).train()
    idx = torch.randint(0, 97, (2, 16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, loss = model(idx, targets=idx)
    loss.backward()
    assert logits.dtype == torch.bfloat16 and math.isfinite(loss.item())
    model.eval()
    cache = model.new_cache(2)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        model(idx[:, :4], cache=cache)
        step, _ = model(idx[:, 4:5], cache=cache)
    assert step.shape == (2, 1, 97) and torch.isfinite(step).all()


@pytest.mark.parametrize(("overrides", "key"), [
    ({"n_head": 5}, "model.n_head: 5 does not divide model.n_embd 128"),
    ({"n_head": 16, "n_embd": 144}, "model.n_head: head_dim"),  # 9: odd
    ({"arch": "rnn"}, "model.arch: unknown arch 'rnn' (known: gpt, hybrid)"),
    ({"n_layer": 0}, "model.n_layer: must be positive"),
    ({"vocab_size": -1}, "model.vocab_size: must be positive"),
    ({"mlp_hidden": -64}, "model.mlp_hidden:"),
    ({"conv_kernel": 1}, "model.conv_kernel:"),
    ({"dropout": 1.0}, "model.dropout:"),
    ({"arch": "hybrid", "attn_every": 5}, "model.attn_every: 5 exceeds model.n_layer 4"),
    ({"n_layer": "4"}, "model.n_layer: expected int"),
])
def test_bad_config(overrides, key):
    with pytest.raises(ValueError) as err:
        ModelConfig.from_preset("tiny", **overrides)
    assert str(err.value).startswith(key)


def test_presets_and_dict_round_trip():
    with pytest.raises(ValueError, match=r"^model\.preset: unknown preset 'huge' \(known: tiny"):
        ModelConfig.from_preset("huge")
    config = ModelConfig.from_preset("gpt2-350m", n_layer=None, arch="hybrid")
    assert (config.n_layer, config.n_embd, config.n_head) == (24, 1024, 16)  # None: preset's
    assert ModelConfig.from_dict(config.to_dict()) == config
    assert ModelConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()
    with pytest.raises(ValueError, match=r"^model\.layers: unknown key layers"):
        ModelConfig.from_dict({**config.to_dict(), "layers": 3})
    for name in PRESETS:
        c = ModelConfig.from_preset(name)
        assert c.head_dim % 2 == 0 and c.hidden % 64 == 0
    assert ModelConfig.from_preset("tiny").hidden == 384  # 8/3 * 128 = 341.3 -> 384


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            names.add(node.module)
    return names


def allowed(module: str, seen: set[str]) -> bool:
    top = module.split(".")[0]
    if top in ("torch", "__future__") or top in sys.stdlib_module_names:
        return True
    if top == "training":  # a sibling: allowed if it keeps the same rule
        path = ROOT / (module.replace(".", "/") + ".py")
        if module in seen or not path.exists():
            return module in seen
        seen.add(module)
        return all(allowed(m, seen) for m in imports_of(path))
    return False


@pytest.mark.parametrize(("module", "stdlib_only"), [("training/model.py", False),
                                                     ("training/hardware.py", True)])
def test_imports_only_torch_and_stdlib(module, stdlib_only):
    for name in imports_of(ROOT / module):
        assert allowed(name, set()), f"{module} imports {name}"
        if stdlib_only:
            assert name.split(".")[0] != "torch", f"{module} imports {name}"


def test_peak_flops():
    assert hardware.peak_flops("NVIDIA H200") == 989e12
    assert hardware.peak_flops("NVIDIA H100 80GB HBM3", "bf16") == 989e12
    assert hardware.peak_flops("NVIDIA H100 PCIe") < hardware.peak_flops("NVIDIA H100 80GB HBM3")
    assert hardware.peak_flops("NVIDIA A100-SXM4-40GB", "torch.bfloat16") == 312e12
    assert hardware.peak_flops("NVIDIA A10", "bf16") == 125e12  # not the A100's
    assert hardware.peak_flops("NVIDIA L4") == 121e12  # not the L40S's
    assert hardware.peak_flops("Tesla V100-SXM2-16GB", "bf16") is None  # no bf16 units
    assert hardware.peak_flops("Imaginary Accelerator 9000") is None
    assert hardware.mfu(1000.0, 1e9, "Imaginary Accelerator 9000", "bf16") is None
    assert hardware.mfu(494_500.0, 1e9, "NVIDIA H200", "bf16") == pytest.approx(0.5, rel=1e-3)
