"""A real ``bentoml serve`` on loopback for the serving tests: a tiny random model and its
tokenizer saved as a model folder, put in a BentoML home of the test's own by the package
stage's store function, and the server run in a process group of its own, started and
stopped (SIGTERM, then SIGKILL) by the test."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import torch

from etl.tokenizer.bpe import train as train_tokenizer
from llmlake.config import as_dict, fingerprint
from llmlake.config_serve import ServeConfig
from llmlake.tokenizer import file_hash
from llmlake.tokenizer import save as save_tokenizer
from serving.package.store import model_labels, model_metadata, save_model
from training.checkpoint import save_model as save_model_folder
from training.model import LanguageModel, ModelConfig

ROOT = Path(__file__).resolve().parents[1]
READY_S = 180   # a cold start imports torch and BentoML: slow on a busy machine
STOP_S = 60
TEXTS = ["the cat sat on the mat.", "a dog ran over the hill.", "the sky is blue.",
         "grass is green. snow is white. coal is black.", "café crème, naïve façade",
         "write to jo@example.com or call (555) 123-4567.", "price: 5 € or £4"] * 20


def tiny_model(folder: Path, context: int = 64, seed: int = 0) -> Path:
    """A model folder: a small BPE and a random model whose next-token distributions are
    far from flat (init_std 0.3), so greedy text varies and argmax ties are unlikely."""
    tok = train_tokenizer(TEXTS, vocab_size=330)
    save_tokenizer(tok, folder.parent / "tokenizer")
    torch.manual_seed(seed)
    config = ModelConfig(arch="gpt", vocab_size=tok.get_vocab_size(), context=context,
                         n_layer=2, n_head=2, n_embd=32, mlp_hidden=64, init_std=0.3)
    lineage = {"run": "test-run", "params": {"model": {"preset": "tiny"}}}
    return save_model_folder(folder, LanguageModel(config).eval(), folder.parent / "tokenizer",
                             lineage)


def store_model(home: Path, folder: Path, lake_root: Path, **serve: object) -> str:
    """Save ``folder`` into the model store of ``home`` as the package stage does; its tag."""
    pointer = {"run": "test-run", "weights_sha256": file_hash(folder / "model.safetensors"),
               "decision": "promoted_first"}
    lineage = {"params": {"model": {"preset": "tiny"}}}
    metadata = model_metadata(pointer, lineage, as_dict(ServeConfig(**serve)), str(lake_root))
    labels = model_labels(pointer, lineage, fingerprint(metadata)[:12])
    return save_model(home, folder, "llmlake-lm", labels, metadata)["tag"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``bentoml serve serving.service:LLMService`` on 127.0.0.1, its output in ``log``."""

    def __init__(self, home: Path, tag: str, log: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LLMLAKE_")}
        self.env.update({"BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True",
                         "LLMLAKE_BENTO_MODEL": tag, "OMP_NUM_THREADS": "1", **env})
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bentoml", "serve", "serving.service:LLMService",
                 "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)  # its own process group: the workers go with it
        return self

    def wait_ready(self, timeout: float = READY_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"bentoml serve exited:\n{self.log_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise TimeoutError(f"not ready in {timeout} s:\n{self.log_text()[-3000:]}")

    def stop(self, timeout: float = STOP_S) -> int | None:
        """SIGTERM, wait, then SIGKILL whatever of its process group is left; the exit
        status of ``bentoml serve`` (None if it was never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.wait(10)

    def group_alive(self) -> bool:
        """Whether any process of the server's group is still running."""
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextlib.contextmanager
def serving(*servers: Server) -> Iterator[tuple[Server, ...]]:
    """Start the servers together (their cold starts overlap), wait until each is ready,
    and stop them all at the end, whatever happens."""
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()
