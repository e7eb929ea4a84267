"""Shared plumbing of the benchmarks: inputs, one subprocess per contender, its peak memory,
timers, per-core rates, results.

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
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def tree_rss(proc) -> int:
    """Resident bytes of a psutil process and all its descendants."""
    import psutil

    total = 0
    try:
        tree = [proc, *proc.children(recursive=True)]
    except psutil.Error:  # the root itself has exited
        return 0
    for p in tree:
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


class Timer:
    """Wall and CPU seconds of a block (CPU: this process, all its threads).

    The CPU time is what a one-process contender's per-core rate needs: other work on a
    shared machine stretches its wall time but not its CPU time.
    """

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


class CpuMeter:
    """Wall seconds of a block and CPU seconds of this process and its descendants (the JVM,
    Python workers) over it: :class:`Timer` for a process tree.

    Each process's own user + system time is sampled while the block runs and the last
    value seen per process is summed: Spark's Python workers come and go, and a parent's
    ``children_*`` times count only the children it has reaped (an unreaped worker's time
    would be lost). A worker that exits loses at most one sampling interval.
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval, self.wall, self.cpu = interval, 0.0, 0.0
        self.seen: dict[tuple[int, float], float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

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
        self.wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.done.set()
        self.thread.join()
        self.seen.update(self._sample())
        self.cpu = sum(v - self.base.get(k, 0.0) for k, v in self.seen.items())


def per_core(amount: float, seconds: float, cpu_seconds: float | None = None,
             cores: int = 1) -> float:
    """``amount`` (documents, MB) per second per core.

    On one core, over its CPU seconds when known: other work on a shared machine stretches
    a one-process contender's wall time but not its CPU time. On several (Spark, a thread
    pool), per wall second over the cores it had.

    >>> per_core(100, seconds=20, cpu_seconds=10), per_core(100, seconds=10, cores=2)
    (10.0, 5.0)
    """
    if cores == 1 and cpu_seconds:
        return amount / cpu_seconds
    return amount / seconds / cores


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: on a shared machine, how far to trust a timing."""
    return [round(x, 2) for x in os.getloadavg()]


# -- input --------------------------------------------------------------------------------
def sample_crawl(out: Path, docs: int, seed: int, **options: object) -> Path:
    """The project's sample crawl (:mod:`etl.sample.stage`) in ``out``, generated once per settings.

    No corrupt records unless ``options`` (more ``sample`` settings) ask for some: every
    contender must see exactly the same documents.
    """
    settings = {"docs": docs, "seed": seed, "corrupt_per_kind": 0, **options}
    marker = out / ".complete"
    if marker.exists() and json.loads(marker.read_text()) == settings:
        return out
    from etl.sample import stage as sample
    from llmlake.config import params_from_dict

    shutil.rmtree(out, ignore_errors=True)
    print(f"generating {docs} documents ...", flush=True)
    # Its INFO lines name the output folder: a machine path has no place in our output.
    logging.getLogger("etl.sample.stage").setLevel(logging.WARNING)
    # Its report goes beside the crawl, never into the repo's committed reports/.
    sample.run(params_from_dict({"sample": {"out": str(out), **settings},
                                 "lake": {"reports": str(out / "reports")}}))
    marker.write_text(json.dumps(settings))
    return out


def text_corpus(out: Path, docs: int, seed: int) -> Path:
    """The sample crawl's ``truth.jsonl`` texts as ``out/docs.parquet`` (url, text, cluster).

    The plain text of every generated document, so a stage after clean is measured alone.
    """
    table = out / "docs.parquet"
    marker = out / f".complete-{docs}-{seed}"
    if not marker.exists():
        crawl = sample_crawl(out / "sample", docs, seed)
        write_docs(crawl / "truth.jsonl", table)
        marker.touch()
    return table


def write_docs(truth: Path, table: Path, chunk: int = 20_000) -> None:
    """Stream the documents of ``truth.jsonl`` into Parquet (a million texts is gigabytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("url", pa.string()), ("text", pa.string()), ("cluster", pa.int64())])
    with open(truth) as f, pq.ParquetWriter(table, schema) as writer:
        rows: list[dict] = []
        for line in f:
            rec = json.loads(line)
            if rec["kind"] == "document":
                rows.append({k: rec[k] for k in ("url", "text", "cluster")})
            if len(rows) >= chunk:
                writer.write_table(pa.Table.from_pylist(rows, schema))
                rows = []
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema))


def read_docs(table: str | Path, limit: int = 0) -> Iterator[tuple[str, str, int]]:
    """``(url, text, cluster)`` of the first ``limit`` documents (0: all), in file order."""
    import pyarrow.parquet as pq

    seen = 0
    for rb in pq.ParquetFile(table).iter_batches(batch_size=4096):
        for url, text, cluster in zip(*(rb.column(c).to_pylist() for c in
                                        ("url", "text", "cluster")), strict=True):
            if limit and seen >= limit:
                return
            seen += 1
            yield url, text, cluster
