"""Generation (serving.generate, serving.sampling, serving.stream): the engine against the
model's own decoding, batching, sampling, stopping, streaming, the background thread."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest
import torch

from etl.tokenizer.bpe import train as train_tokenizer
from serving.generate import Engine, SamplingParams
from serving.sampling import filter_logits, new_generator, sample
from serving.stream import REPLACEMENT, TextStream
from training.model import LanguageModel, ModelConfig

ARCHS = ["gpt", "hybrid"]
CONTEXT = 48
PROMPTS = ["the cat", "a dog ran over the hill", "", "café", "the sky is blue and the grass",
           "x", "日本語 text", "snow is white. coal is"]
GREEDY = SamplingParams(max_new_tokens=12, temperature=0, ignore_eos=True)

pytestmark = pytest.mark.timeout(60)  # a scheduling bug shows as a hang: fail it instead


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models are fastest on one torch thread, and a busy machine cannot stall it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer():
    texts = ["the cat sat on the mat.", "a dog ran over the hill.", "the sky is blue.",
             "grass is green. snow is white. coal is black.", "café crème, naïve façade",
             "日本語のテキスト", "price: 5 € or £4"] * 20
    return train_tokenizer(texts, vocab_size=330)


def make_model(tokenizer, arch: str = "gpt", seed: int = 0) -> LanguageModel:
    """Random weights, scaled up so next-token distributions are far from flat: greedy
    text varies and argmax ties are unlikely."""
    torch.manual_seed(seed)
    config = ModelConfig(arch=arch, vocab_size=tokenizer.get_vocab_size(), context=CONTEXT,
                         n_layer=3, n_head=2, n_embd=32, mlp_hidden=64, attn_every=3,
                         init_std=0.3)
    return LanguageModel(config).eval()


@pytest.fixture(scope="module", params=ARCHS)
def model(request, tokenizer):
    return make_model(tokenizer, request.param)


def alone(model, tokenizer, prompt, params):
    return Engine(model, tokenizer, max_batch=1).generate([prompt], params)[0]


def count_forwards(model):
    """Forward passes by their number of new tokens: {T: calls}."""
    calls: dict[int, int] = {}

    def hook(module, args):
        T = args[0].shape[1]
        calls[T] = calls.get(T, 0) + 1

    return calls, model.register_forward_pre_hook(hook)


def test_greedy_equals_model_generate(model, tokenizer):
    engine = Engine(model, tokenizer)
    for prompt in PROMPTS[:3]:
        done = engine.generate([prompt], GREEDY)[0]
        ids = torch.tensor([engine.encode(prompt)])
        expected = model.generate(ids, GREEDY.max_new_tokens, temperature=0)[0, ids.shape[1]:]
        assert list(done.token_ids) == expected.tolist()
        assert done.text == tokenizer.decode(expected.tolist())
        assert done.finish_reason == "length" and done.prompt_tokens == ids.shape[1]


def test_batched_equals_alone(model, tokenizer):
    """8 prompts, 3 slots, budgets of 3 to 17 tokens: requests wait, are admitted as others
    finish, decode beside different neighbours, and give each one's text alone."""
    params = [replace(GREEDY, max_new_tokens=3 + 2 * i) for i in range(len(PROMPTS))]
    engine = Engine(model, tokenizer, max_batch=3)
    calls, hook = count_forwards(model)
    batched = engine.generate(PROMPTS, params)
    hook.remove()
    assert calls[1] < sum(p.max_new_tokens for p in params) / 2  # several rows per step
    for prompt, p, done in zip(PROMPTS, params, batched, strict=True):
        single = alone(model, tokenizer, prompt, p)
        assert done.token_ids == single.token_ids and done.text == single.text
        assert done.completion_tokens == p.max_new_tokens


def test_decodes_many_requests_per_forward(tokenizer):
    model = make_model(tokenizer)
    calls, hook = count_forwards(model)
    n, m = 6, 10
    done = Engine(model, tokenizer, max_batch=n).generate(
        [f"the cat {i}" for i in range(n)], replace(GREEDY, max_new_tokens=m))
    hook.remove()
    assert [c.completion_tokens for c in done] == [m] * n
    # One prefill per request gives its first token; then all rows decode together.
    assert calls.pop(1) == m - 1 and sum(calls.values()) == n


def test_seeds(model, tokenizer):
    warm = SamplingParams(max_new_tokens=16, temperature=1.5, ignore_eos=True)
    a = [replace(warm, seed=s) for s in (1, 2, 3)]
    first = alone(model, tokenizer, "the cat", a[0])
    again = alone(model, tokenizer, "the cat", a[0])
    assert first.token_ids == again.token_ids
    # In a batch beside other seeds, a greedy row and other prompts: the same draw.
    batch = Engine(model, tokenizer, max_batch=4).generate(
        ["the cat", "the cat", "a dog", "the cat", "the cat"], [a[0], a[1], a[2], GREEDY, a[0]])
    assert batch[0].token_ids == first.token_ids == batch[4].token_ids
    assert batch[1].token_ids != first.token_ids
    assert len({alone(model, tokenizer, "the cat", p).token_ids for p in a}) == 3


def test_top_k_one_and_tiny_top_p_are_greedy(model, tokenizer):
    greedy = alone(model, tokenizer, "the sky", GREEDY)
    for cut in ({"top_k": 1}, {"top_p": 1e-6}):
        p = replace(GREEDY, temperature=1.0, seed=5, **cut)
        assert alone(model, tokenizer, "the sky", p).token_ids == greedy.token_ids


def test_filter_logits_and_sample():
    logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log()
    kept = lambda k, p: torch.isfinite(filter_logits(logits, k, p)).tolist()  # noqa: E731
    assert kept(2, 1.0) == [True, True, False, False]
    assert kept(0, 0.8) == [True, True, False, False]  # 0.5 + 0.3 reach 0.8
    assert kept(0, 0.81) == [True, True, True, False]
    assert kept(3, 0.6) == [True, True, False, False]  # top-k, then the nucleus of the rest
    p = SamplingParams(top_k=2, seed=0)
    gen = new_generator(p)
    draws = {sample(logits[None], [p], [gen])[0] for _ in range(200)}
    assert draws == {0, 1}


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"max_new_tokens": 0}, "max_new_tokens"), ({"max_new_tokens": 2.5}, "max_new_tokens"),
    ({"max_new_tokens": True}, "max_new_tokens"), ({"temperature": -0.1}, "temperature"),
    ({"temperature": float("nan")}, "temperature"), ({"temperature": "1"}, "temperature"),
    ({"top_k": -1}, "top_k"), ({"top_p": 0}, "top_p"), ({"top_p": 1.5}, "top_p"),
    ({"seed": -1}, "seed"), ({"seed": 2**63}, "seed"), ({"stop": ("",)}, "stop"),
    ({"stop": "end"}, "stop"), ({"stop": [3]}, "stop"), ({"ignore_eos": 1}, "ignore_eos"),
])
def test_bad_sampling_params(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        SamplingParams(**kwargs)


def test_eos_stops(tokenizer):
    """A model made to prefer <|endoftext|> once a row holds 8 tokens: it stops there."""
    model = make_model(tokenizer)
    eos = tokenizer.token_to_id("<|endoftext|>")

    def prefer_eos(module, args, kwargs, output):
        logits, loss = output
        late = kwargs["cache"].lengths.to(logits.device) >= 8  # (B,) after this call
        logits[late, -1, eos] += 1e4
        return logits, loss

    model.register_forward_hook(prefer_eos, with_kwargs=True)
    prompts = ["the cat", "a dog ran", "x"]
    done = Engine(model, tokenizer).generate(prompts, replace(GREEDY, ignore_eos=False))
    for c in done:
        assert c.finish_reason == "stop" and c.token_ids[-1] == eos
        assert c.prompt_tokens + c.completion_tokens == 8 + 1  # the EOS sampled at length 8
        assert c.text == tokenizer.decode(list(c.token_ids[:-1]))
    ignoring = Engine(model, tokenizer).generate(prompts[:1], GREEDY)[0]
    assert ignoring.finish_reason == "length" and ignoring.completion_tokens == 12


def test_stop_string_and_streaming(model, tokenizer):
    engine = Engine(model, tokenizer)
    long = replace(GREEDY, max_new_tokens=30)
    free = engine.generate(["the cat"], long)[0].text
    start = next(i for i in range(3, len(free) - 2) if REPLACEMENT not in free[i:i + 2])
    stop = free[start:start + 2]
    handle = engine.submit("the cat", replace(long, stop=("zzz-never", stop)))
    engine.drain()
    pieces = list(handle)
    done = handle.result(timeout=0)
    assert done.finish_reason == "stop" and done.text == free[:free.index(stop)]
    assert "".join(pieces) == done.text and len(pieces) > 1
    assert not any(stop in piece for piece in pieces)

    async def collect():  # a reader that arrives after the end gets every piece too
        return [piece async for piece in handle.aiter()]

    assert asyncio.run(collect()) == pieces


def test_text_stream_holds_back_split_characters_and_stop_prefixes(tokenizer):
    text = "price: 5 € and 日本語, then the end. after"
    ids = tokenizer.encode(text).ids
    split = [i for i in range(1, len(ids)) if tokenizer.decode(ids[:i]).endswith(REPLACEMENT)]
    assert split  # some characters' bytes span two tokens
    stream = TextStream(tokenizer.decode, stop=("the end",))
    pieces = []
    for token in ids:
        pieces.append(stream.push(token))
        joined = "".join(pieces)
        assert text.startswith(joined) and REPLACEMENT not in joined  # nothing taken back
        assert len(joined) <= text.index("the end")  # not even the stop string's start
        if stream.stopped:
            break
    pieces.append(stream.flush())
    assert stream.stopped and "".join(pieces) == stream.text == text[:text.index("the end")]
    assert pieces.count("") >= len(split)


def test_length_cap_and_context_end(model, tokenizer):
    engine = Engine(model, tokenizer, max_new_tokens_cap=5)
    capped = engine.generate(["the cat"], replace(GREEDY, max_new_tokens=20))[0]
    assert capped.finish_reason == "length" and capped.completion_tokens == 5
    engine = Engine(model, tokenizer)
    prompt = "the cat sat on the mat. " * 2
    near_end = engine.generate([prompt], replace(GREEDY, max_new_tokens=100))[0]
    assert near_end.prompt_tokens + near_end.completion_tokens == CONTEXT + 1
    assert near_end.finish_reason == "length"


def test_truncate_left_or_refuse(model, tokenizer):
    prompt = "the sky is blue and the grass is green. " * 6
    ids = tokenizer.encode(prompt).ids
    assert len(ids) > CONTEXT
    left = Engine(model, tokenizer, truncate="left")
    assert left.encode(prompt) == [0, *ids[-(CONTEXT - 1):]]
    done = left.generate([prompt], GREEDY)[0]
    assert done.prompt_tokens == CONTEXT and done.completion_tokens == 1
    with pytest.raises(ValueError, match=r"^prompt: \d+ tokens exceed"):
        Engine(model, tokenizer, truncate="refuse").submit(prompt, GREEDY)
    with pytest.raises(ValueError, match=r"^serve\.truncate"):
        Engine(model, tokenizer, truncate="right")
    engine = Engine(model, tokenizer)
    assert engine.encode("") == [0]  # an empty prompt starts a document
    assert 0 not in engine.encode("a <|endoftext|> b")[1:]  # special tokens in text: text


def test_long_request_does_not_hold_back_short_ones(tokenizer):
    engine = Engine(make_model(tokenizer), tokenizer, max_batch=2)
    long = engine.submit("the cat", replace(GREEDY, max_new_tokens=40))
    shorts = [engine.submit(f"a dog {i}", replace(GREEDY, max_new_tokens=3)) for i in range(4)]
    while not all(h.done for h in shorts):
        engine.step()
    assert not long.done
    engine.drain()
    assert long.result(timeout=0).completion_tokens == 40


def test_background_thread(model, tokenizer):
    engine = Engine(model, tokenizer, max_batch=4)
    steps = []
    step = engine.step
    engine.step = lambda: steps.append(1) or step()  # count the thread's steps
    engine.start()
    results: dict[int, object] = {}

    def client(i: int) -> None:
        results[i] = engine.submit(PROMPTS[i], GREEDY).result(timeout=60)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(PROMPTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for i, prompt in enumerate(PROMPTS):
        assert results[i].token_ids == alone(model, tokenizer, prompt, GREEDY).token_ids
    idle = len(steps)
    threading.Event().wait(0.2)
    assert len(steps) == idle  # idle: asleep on the condition, not stepping
    thread = engine._thread
    engine.stop()
    assert not thread.is_alive() and not engine.running


def test_asyncio_consumer_and_cancel(model, tokenizer):
    engine = Engine(model, tokenizer, max_batch=2)
    engine.start()
    try:
        async def consume():
            handle = engine.submit("the cat", replace(GREEDY, max_new_tokens=20))
            pieces = [piece async for piece in handle.aiter()]
            return pieces, await handle.aresult()

        pieces, done = asyncio.run(consume())
        assert "".join(pieces) == done.text and done.completion_tokens == 20
        endless = engine.submit("a dog", replace(GREEDY, max_new_tokens=1000))
        next(iter(endless))  # decoding has begun
        endless.cancel()
        cancelled = endless.result(timeout=30)
        assert cancelled.finish_reason == "cancelled" and cancelled.completion_tokens < 40
        after = engine.submit("the cat", GREEDY).result(timeout=30)  # its slot was freed
        assert after.completion_tokens == GREEDY.max_new_tokens
    finally:
        engine.stop()


def test_failed_step_fails_its_requests_and_serving_goes_on(tokenizer):
    model = make_model(tokenizer)
    engine = Engine(model, tokenizer)
    def fail(module, args):
        raise RuntimeError("device lost")

    broken = model.register_forward_pre_hook(fail)
    handle = engine.submit("the cat", GREEDY)
    with pytest.raises(RuntimeError, match="device lost"):
        engine.step()
    with pytest.raises(RuntimeError, match="failed: device lost"):
        handle.result(timeout=0)
    broken.remove()
    assert engine.generate(["the cat"], GREEDY)[0].completion_tokens == 12
    waiting = engine.submit("the cat", GREEDY)
    engine.stop()
    with pytest.raises(RuntimeError, match="engine stopped"):
        waiting.result(timeout=0)
