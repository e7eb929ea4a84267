"""Shared plumbing of the benchmarks: one subprocess per contender, its peak memory, results.

Each benchmark runs every contender in its own child process (so peak memory is per
contender and no import or cache of one contender helps another), the child prints one
``RESULT {json}`` line, and :func:`measure` samples the resident memory of the child's whole
process tree while it runs. :func:`forbid_network` makes any outbound connection in a child
an error, so a library that would quietly download a model or a word list fails loudly.

Example::

    >>> import sys
    >>> from bench.common import measure
    >>> r = measure([sys.executable, "-c", "print('RESULT {\\"seconds\\": 0}')"], "demo")
    >>> r["seconds"], r["peak_rss_mb"] >= 0
    (0, True)
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def tree_rss(proc) -> int:
    """Resident bytes of a psutil process and all its descendants."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        # A worker can exit between listing and reading.
        with contextlib.suppress(Exception):
            total += p.memory_info().rss
    return total


def measure(cmd: list[str], label: str, env: dict[str, str] | None = None,
            log: Path | None = None) -> dict:
    """Run ``cmd`` (a child printing ``RESULT {json}``), sampling its tree's peak RSS.

    The child's stderr goes to ``log`` when given (Spark's start-up chatter), else to ours.
    """
    import psutil

    with open(log, "w") if log else contextlib.nullcontext() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT,
                                env={**os.environ, **(env or {})})
        return _watch(proc, psutil.Process(proc.pid), label)


def _watch(proc: subprocess.Popen, ps, label: str) -> dict:
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(ps))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"{label} failed with exit code {proc.returncode} (see its log)")
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    result["peak_rss_mb"] = round(peak[0] / 2**20)
    return result


def emit(result: dict) -> None:
    """The child's side of :func:`measure`."""
    print("RESULT " + json.dumps(result), flush=True)


def forbid_network() -> None:
    """Make every non-local socket connection raise, for the rest of this process."""
    original, original_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self, address):
        # Unix sockets and loopback (multiprocessing, a local JVM) are not the network.
        if self.family == socket.AF_UNIX or str(address[0]) in ("127.0.0.1", "::1", "localhost"):
            return original(self, address)
        raise RuntimeError(f"benchmark child tried to reach the network: {address!r}")

    def getaddrinfo(host, *args, **kwargs):
        if host not in (None, "127.0.0.1", "::1", "localhost") and not str(host).startswith("/"):
            raise RuntimeError(f"benchmark child tried to resolve a network host: {host!r}")
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.getaddrinfo = getaddrinfo


def write_results(name: str, payload: dict) -> Path:
    out = RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    return out


class CpuMeter:
    """CPU seconds of this process and its descendants (the JVM, Python workers) over a block.

    Each process's own user + system time is sampled while the block runs and the last
    value seen per process is summed: Spark's Python workers come and go, and a parent's
    ``children_*`` times count only the children it has reaped (an unreaped worker's time
    would be lost). A worker that exits loses at most one sampling interval.
    """

    def __init__(self, interval: float = 0.2) -> None:
        import threading

        self.interval, self.seconds = interval, 0.0
        self.seen: dict[tuple[int, float], float] = {}
        self.done, self.thread = threading.Event(), threading.Thread(target=self._loop,
                                                                     daemon=True)

    def _sample(self) -> dict[tuple[int, float], float]:
        import psutil

        me, out = psutil.Process(), {}
        for p in [me, *me.children(recursive=True)]:
            try:  # (pid, start time): a pid can be reused by a later worker
                t = p.cpu_times()
                out[p.pid, p.create_time()] = t.user + t.system
            except psutil.Error:  # exited (or a zombie) between listing and reading
                continue
        return out

    def _loop(self) -> None:
        while not self.done.wait(self.interval):
            self.seen.update(self._sample())

    def __enter__(self) -> CpuMeter:
        self.base = self._sample()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()
        self.seen.update(self._sample())
        self.seconds = sum(v - self.base.get(k, 0.0) for k, v in self.seen.items())
