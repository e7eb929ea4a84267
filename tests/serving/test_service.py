"""The service over HTTP: a real ``bentoml serve`` on loopback with a tiny random model
(tests/serve_helpers.py). One server runs with the API open, one with a key (and
``truncate: refuse``); every request the tests send the open one is counted, and once it
has stopped its request and feedback tables must hold exactly those requests."""

from __future__ import annotations

import json
import math
import secrets
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import httpx
import httpx2
import openai
import pytest
import torch
from deltalake import DeltaTable
from serve_helpers import Server, serving, store_model, tiny_model

from llmlake.tokenizer import EOS, file_hash
from llmlake.tokenizer import load as load_tokenizer
from serving.exchange import ENDPOINTS
from serving.logrows import scrub
from training.checkpoint import load_model
from training.evaluate.score import score, windows

pytestmark = pytest.mark.timeout(600)

KEY = f"test-key-{secrets.token_hex(8)}"
LIMITS = {"max_new_tokens": 48, "max_prompt_chars": 2000, "max_score_texts": 8,
          "log_flush_seconds": 0.5}
PROMPTS = ["the cat", "a dog ran over", "snow is", "the sky is blue and", "café", "price:",
           "grass is", "x"]


class Client:
    """httpx against one server, counting each response by (path, status)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.counts: Counter[tuple[str, int]] = Counter()
        self.http = httpx.Client(base_url=url, timeout=60,
                                 event_hooks={"response": [self._count]})

    def _count(self, response) -> None:  # an httpx or (the openai client's) httpx2 response
        if response.request.method == "POST":
            self.counts[(response.request.url.path, response.status_code)] += 1

    def generate(self, prompt: str, **fields) -> dict:
        response = self.http.post("/generate", json={"prompt": prompt, **fields})
        assert response.status_code == 200, response.text
        return response.json()

    def openai(self, api_key: str = "unused") -> openai.OpenAI:
        http = httpx2.Client(timeout=60, event_hooks={"response": [self._count]})
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=api_key, max_retries=0,
                             http_client=http)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("serve")
    folder = tiny_model(base / "model")
    home = base / "bentoml"
    tag = store_model(home, folder, base / "lake-packaged", **LIMITS)
    open_ = Server(home, tag, base / "open.log", LLMLAKE_LAKE_ROOT=str(base / "lake-open"))
    keyed = Server(home, tag, base / "keyed.log", LLMLAKE_LAKE_ROOT=str(base / "lake-keyed"),
                   LLMLAKE_API_KEY=KEY, LLMLAKE_SERVE_TRUNCATE="refuse")
    with serving(open_, keyed):
        model, _ = load_model(folder)
        yield SimpleNamespace(open=open_, keyed=keyed, tag=tag, base=base, model=model,
                              tok=load_tokenizer(folder), client=Client(open_.url),
                              version=f"test-run@{file_hash(folder / 'model.safetensors')[:8]}")


def events(response: httpx.Response) -> list[dict]:
    return [json.loads(line[len("data: "):]) for line in response.iter_lines()
            if line.startswith("data: ") and line != "data: [DONE]"]


def test_health_routes_answer(world):
    for path in ("/livez", "/readyz", "/metrics"):
        assert world.client.http.get(path).status_code == 200, path


def test_generate_answers_with_counts_and_an_id(world):
    response = world.client.http.post("/generate", json={
        "prompt": "write to jo@example.com", "max_new_tokens": 12, "temperature": 0})
    body = response.json()
    assert response.status_code == 200 and body["model"] == world.tag
    assert body["finish_reason"] in ("stop", "length") and 1 <= body["completion_tokens"] <= 12
    assert body["prompt_tokens"] == 1 + len(world.tok.encode("write to jo@example.com",
                                                       add_special_tokens=False).ids)
    assert response.headers["x-request-id"] == body["request_id"]


def test_stream_joins_to_the_greedy_text(world):
    greedy = {"max_new_tokens": 24, "temperature": 0}
    whole = world.client.generate("the cat", **greedy)
    with world.client.http.stream("POST", "/generate_stream",
                                  json={"prompt": "the cat", **greedy}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        got = events(response)
    pieces, last = [e["text"] for e in got[:-1]], got[-1]
    assert len(pieces) > 1 and "".join(pieces) == whole["text"]
    assert (last["finish_reason"], last["completion_tokens"]) == (
        whole["finish_reason"], whole["completion_tokens"])


def test_the_openai_client_completes_and_streams(world):
    client = world.client.openai()
    assert [m.id for m in client.models.list().data] == [world.tag]
    whole = world.client.generate("a dog ran over", max_new_tokens=20, temperature=0)
    done = client.completions.create(model=world.tag, prompt="a dog ran over", max_tokens=20,
                                     temperature=0)
    assert done.choices[0].text == whole["text"]
    assert done.usage.completion_tokens == whole["completion_tokens"]
    assert done.usage.total_tokens == whole["prompt_tokens"] + whole["completion_tokens"]
    chunks = list(client.completions.create(model="llmlake-lm", prompt="a dog ran over",
                                            max_tokens=20, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    texts = [c.choices[0].text for c in chunks if c.choices]
    assert len(texts) > 2 and "".join(texts) == whole["text"]
    assert chunks[-1].usage.completion_tokens == whole["completion_tokens"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole[
        "finish_reason"]


def test_seeds_make_sampling_reproducible(world):
    def sampled(seed: int) -> str:
        return world.client.generate("the sky is blue and", max_new_tokens=16,
                                     temperature=1.5, seed=seed)["text"]

    assert sampled(7) == sampled(7)
    assert len({sampled(seed) for seed in range(1, 6)}) > 1


def test_concurrent_greedy_requests_equal_each_alone(world):
    def greedy(prompt: str) -> str:
        return world.client.generate(prompt, max_new_tokens=24, temperature=0)["text"]

    alone = [greedy(p) for p in PROMPTS]
    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        together = list(pool.map(greedy, PROMPTS))
    assert together == alone


def test_score_matches_the_model(world):
    short, long = "the cat sat on the mat.", "snow is white. coal is black. " * 12
    response = world.client.http.post("/score", json={"texts": [short, long]})
    assert response.status_code == 200, response.text
    got = response.json()
    eos = world.tok.token_to_id(EOS)
    ids = [[eos, *world.tok.encode(t, add_special_tokens=False).ids] for t in (short, long)]
    assert len(ids[1]) > world.model.config.context  # scored in windows
    with torch.no_grad():  # the short text in one forward pass
        logits, _ = world.model(torch.tensor([ids[0][:-1]]))
        direct = logits.log_softmax(-1)[0].gather(-1, torch.tensor(ids[0][1:])[:, None])
    assert got[0]["tokens"] == len(ids[0]) - 1
    # Relative too: the server's batch shapes and thread count order the float sums
    # differently, and this random model's log-probabilities run to tens of nats.
    assert got[0]["token_logprobs"] == pytest.approx(direct[:, 0].tolist(), rel=1e-5,
                                                     abs=1e-4)
    context = world.model.config.context
    items = windows(ids[1], context, context // 2)
    nll = float(score(world.model, items).nll.sum())
    assert got[1]["tokens"] == len(ids[1]) - 1 == len(got[1]["token_logprobs"])
    assert got[1]["perplexity"] == pytest.approx(math.exp(nll / (len(ids[1]) - 1)), rel=1e-4)


def test_feedback_needs_a_served_request(world):
    served = world.client.generate("grass is", max_new_tokens=4)
    for request_id in (served["request_id"], f"cmpl-{served['request_id']}"):
        response = world.client.http.post("/feedback", json={
            "request_id": request_id, "rating": 1, "comment": "mail jo@example.com"})
        assert response.status_code == 200 and response.json()["recorded"], response.text
    unknown = world.client.http.post("/feedback", json={"request_id": "f" * 32, "rating": -1})
    assert unknown.status_code == 404 and "request_id" in unknown.json()["error"]


TOO_BIG = "x" * 200_000  # a body over the limit: 8 * 2000 chars * 8 texts + 64 KiB
BAD = [  # (path, body (JSON, or raw bytes), status, a word the message must hold)
    ("/generate", b'{"prompt": ', 400, "json"),
    ("/generate", {"prompt": 5}, 400, "prompt"),
    ("/generate", {}, 400, "prompt"),
    ("/generate", {"prompt": "x", "max_new_tokens": "5"}, 400, "max_new_tokens"),
    ("/generate", {"prompt": "x", "max_new_tokens": -1}, 400, "max_new_tokens"),
    ("/generate", {"prompt": "x", "max_new_tokens": 0}, 400, "max_new_tokens"),
    ("/generate", {"prompt": "x", "max_new_tokens": 10**6}, 400, "serve.max_new_tokens"),
    ("/generate", {"prompt": ""}, 400, "prompt"),
    ("/generate", {"prompt": "x" * 2001}, 400, "serve.max_prompt_chars"),
    ("/generate", {"prompt": "x", "colour": "red"}, 400, "colour"),
    ("/generate", {"prompt": "x", "temperature": -1}, 400, "temperature"),
    ("/generate", {"prompt": "x", "top_p": 1.5}, 400, "top_p"),
    ("/generate", {"prompt": "x", "stop": [""]}, 400, "stop"),
    ("/generate", {"prompt": TOO_BIG}, 413, "request body"),
    ("/generate_stream", {"prompt": "x", "max_new_tokens": -1}, 400, "max_new_tokens"),
    ("/score", {"texts": []}, 400, "texts"),
    ("/score", {"texts": ["a"] * 9}, 400, "serve.max_score_texts"),
    ("/score", {"texts": "abc"}, 400, "texts"),
    ("/score", {"texts": ["ok", ""]}, 400, "texts"),
    ("/v1/completions", b"{", 400, "json"),
    ("/v1/completions", {"model": "llmlake-lm", "prompt": "x", "max_tokens": -1}, 400,
     "max_tokens"),
    ("/v1/completions", {"model": "llmlake-lm", "prompt": "x", "n": 2}, 400, "n"),
    ("/v1/completions", {"model": "llmlake-lm", "prompt": "x", "best": 1}, 400, "best"),
    ("/v1/completions", {"model": "gpt-4", "prompt": "x"}, 404, "model"),
    ("/feedback", {"request_id": "r", "rating": 3}, 400, "rating"),
]


@pytest.mark.parametrize(("path", "body", "status", "word"), BAD,
                         ids=[f"{p}-{i}" for i, (p, *_) in enumerate(BAD)])
def test_a_bad_request_gets_its_4xx_and_the_server_goes_on(world, path, body, status, word):
    http = world.client.http
    sent = http.post(path, content=body) if isinstance(body, bytes) else http.post(path,
                                                                                    json=body)
    assert sent.status_code == status, sent.text
    assert word in (sent.text.lower() if word.islower() else sent.text), sent.text
    assert world.client.generate("the cat", max_new_tokens=3)["completion_tokens"] >= 1


def test_auth_needs_the_key_on_every_api_route_but_health(world):
    http = httpx.Client(base_url=world.keyed.url, timeout=60)
    for path in ("/livez", "/readyz", "/metrics"):
        assert http.get(path).status_code == 200, path
    body = {"prompt": "the cat", "max_new_tokens": 3}
    for headers in ({}, {"Authorization": "Bearer wrong-key-123"}, {"Authorization": KEY},
                    {"Authorization": f"Basic {KEY}"}):
        denied = http.post("/generate", json=body, headers=headers)
        assert denied.status_code == 401 and "API key" in denied.json()["error"]
    assert http.get("/v1/models").status_code == 401
    for path in ("/score", "/feedback", "/generate_stream", "/v1/completions"):
        assert http.post(path, json={}).status_code == 401, path
    auth = {"Authorization": f"Bearer {KEY}"}
    leaked = http.post("/generate", json={**body, "prompt": f"my key is {KEY}"}, headers=auth)
    assert leaked.status_code == 200, leaked.text
    assert http.get("/v1/models", headers=auth).status_code == 200
    client = openai.OpenAI(base_url=f"{world.keyed.url}/v1", api_key=KEY, max_retries=0)
    assert client.completions.create(model=world.tag, prompt="snow is", max_tokens=3).usage
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{world.keyed.url}/v1", api_key="wrong-key-123",
                      max_retries=0).models.list()


def test_truncate_refuse_answers_413_for_a_prompt_over_the_context(world):
    http = httpx.Client(base_url=world.keyed.url, timeout=60,
                        headers={"Authorization": f"Bearer {KEY}"})
    long = "the cat sat on the mat. " * 40  # within max_prompt_chars, over 64 tokens
    refused = http.post("/generate", json={"prompt": long})
    assert refused.status_code == 413 and "context" in refused.json()["error"]
    over = http.post("/v1/completions", json={"model": "llmlake-lm", "prompt": long})
    assert over.status_code == 400
    assert over.json()["error"]["code"] == "context_length_exceeded"
    assert http.post("/generate", json={"prompt": "the cat"}).status_code == 200
    # The open server keeps the prompt's end instead: the whole context is read.
    kept = world.client.generate(long, max_new_tokens=1)
    assert kept["prompt_tokens"] == world.model.config.context


def rows(lake, table: str) -> list[dict]:
    return DeltaTable(str(lake / "ops" / table)).to_pyarrow_dataset().to_table().to_pylist()


def test_records_of_every_request_land_in_the_lake(world):
    served = world.client.generate("write to jo@example.com", max_new_tokens=4)
    assert world.client.http.post("/score", json={"texts": ["snow is"]}).status_code == 200
    rated = world.client.http.post("/feedback", json={
        "request_id": served["request_id"], "rating": -1, "comment": "mail jo@example.com"})
    assert rated.status_code == 200
    assert world.open.stop() == 0 and not world.open.group_alive()
    requests = rows(world.base / "lake-open", "requests")
    sent = Counter({(ENDPOINTS[path], status): n
                    for (path, status), n in world.client.counts.items() if path in ENDPOINTS})
    assert Counter((r["endpoint"], r["status"]) for r in requests) == sent
    assert {r["model"] for r in requests} == {world.version}
    assert len({r["request_id"] for r in requests}) == len(requests)
    ok = [r for r in requests if r["status"] == 200 and r["endpoint"] != "score"]
    assert all(r["completion_tokens"] >= 1 and r["finish_reason"] for r in ok)
    by_id = {r["request_id"]: r for r in requests}
    assert by_id[served["request_id"]]["response"] == scrub(served["text"])[0]
    assert all(r["response"] is None for r in requests
               if r["status"] != 200 or r["endpoint"] == "score")
    assert any("<EMAIL>" in (r["prompt"] or "") for r in requests)
    assert not any("jo@example.com" in (r["prompt"] or "") for r in requests)
    feedback = rows(world.base / "lake-open", "feedback")
    assert len(feedback) == world.client.counts[("/feedback", 200)]
    assert {f["comment"] for f in feedback} == {"mail <EMAIL>"}


def test_the_key_never_reaches_records_or_logs(world):
    assert world.keyed.stop() == 0 and not world.keyed.group_alive()
    requests = rows(world.base / "lake-keyed", "requests")
    assert any("<API_KEY>" in (r["prompt"] or "") for r in requests)
    for row in requests:
        assert not any(KEY in str(value) for value in row.values()), row
    assert "API key required" in world.keyed.log_text()
    assert KEY not in world.keyed.log_text()
