"""A Spark standalone cluster on loopback for tests (a plain module: nothing to collect).

:func:`standalone_cluster` starts a master and one worker as processes of their own
(``spark-class org.apache.spark.deploy.master.Master`` / ``...deploy.worker.Worker``), each
in its own process group, listening on 127.0.0.1 only, with logs, work folder and an empty
Spark conf folder under a test folder. It waits until the master's web UI (``/json/``)
lists the worker as alive, and on the way out stops both and kills whatever is still
running in the worker's folder (executor JVMs, and the Python workers, which leave the
executor's process group). :func:`submit_argv` is the ``spark-submit`` line that runs one
ETL stage script (``etl/<stage>/stage.py``) on the cluster, unchanged, with the Delta jars.

Example::

    >>> state = {"workers": [{"host": "127.0.0.1", "state": "ALIVE"}, {"state": "DEAD"}],
    ...          "completedapps": [{"id": "app-1", "name": "llmlake-cluster-clean",
    ...                             "state": "FINISHED"}]}
    >>> alive_workers(state)
    1
    >>> finished_apps(state)
    {'llmlake-cluster-clean': 'app-1'}
    >>> argv = submit_argv("spark://127.0.0.1:7077", "clean", Path("p.yaml"), ["a.b=1"])
    >>> argv[argv.index("--master") + 1], argv[-5:]
    ('spark://127.0.0.1:7077', ['etl/clean/stage.py', '--params', 'p.yaml', '--set', 'a.b=1'])
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DELTA_PACKAGE = "io.delta:delta-spark_4.1_2.13:4.4.0"
# Small on purpose: the machine also runs the driver (2g) and the local reference run.
WORKER_CORES, WORKER_MEMORY, EXECUTOR_MEMORY, DRIVER_MEMORY = 2, "2g", "1g", "2g"


def free_port() -> int:
    """A TCP port nothing listens on at the moment (the OS's pick on loopback)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((LOOPBACK, port)) == 0


def alive_workers(state: dict) -> int:
    """Workers the master's ``/json/`` state lists as alive."""
    return sum(w.get("state") == "ALIVE" for w in state.get("workers", []))


def finished_apps(state: dict) -> dict[str, str]:
    """Application name -> id of the master's completed applications that finished."""
    return {a["name"]: a["id"] for a in state.get("completedapps", [])
            if a.get("state") == "FINISHED"}


def cluster_env(base: Path) -> dict[str, str]:
    """Environment of the daemons and of spark-submit: this venv's Spark and Python, loopback
    addresses, and every folder Spark writes under ``base``."""
    import pyspark

    conf = base / "conf"  # empty: no spark-defaults.conf from anywhere else
    conf.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        # spark-class finds its home through `python3` on PATH otherwise (the system one).
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "SPARK_CONF_DIR": str(conf),
        "SPARK_LOCAL_IP": LOOPBACK,
        "SPARK_LOG_DIR": str(base / "logs"),
        "SPARK_WORKER_DIR": str(base / "work"),
        "SPARK_DAEMON_MEMORY": "512m",
        # The REST submission server would take the fixed port 6066; nothing here uses it.
        # A port taken between free_port() and the start fails loudly instead of moving
        # the daemon to the next port, where nothing would look for it.
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false -Dspark.port.maxRetries=0",
        "SPARK_WORKER_OPTS": "-Dspark.port.maxRetries=0",
        # Executors start Python workers with this interpreter: it imports the project.
        "PYSPARK_PYTHON": sys.executable,
    }


@dataclass
class Cluster:
    base: Path
    port: int
    ui_port: int
    worker_ui_port: int
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"spark://{LOOPBACK}:{self.port}"

    @property
    def work(self) -> Path:
        return self.base / "work"

    @property
    def ports(self) -> tuple[int, int, int]:
        return self.port, self.ui_port, self.worker_ui_port

    def state(self) -> dict:
        url = f"http://{LOOPBACK}:{self.ui_port}/json/"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)

    def log_tail(self, chars: int = 3000) -> str:
        return "\n".join(f"{p.name}: {p.read_text()[-chars:]}"
                         for p in sorted(self.base.glob("*.log")))

    def executor_tasks(self, app_id: str) -> int:
        """Tasks the worker's executors of ``app_id`` logged as finished."""
        logs = (self.work / app_id).glob("*/stderr")
        return sum(log.read_text(errors="replace").count("Finished task") for log in logs)


def _daemon(cluster: Cluster, name: str, argv: list[str]) -> None:
    log = (cluster.base / f"{name}.log").open("w")
    cluster.procs.append(subprocess.Popen(
        [str(BIN / "spark-class"), *argv], env=cluster.env, cwd=cluster.base,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    log.close()  # the child holds its own descriptor


def _wait_registered(cluster: Cluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p.args[1] for p in cluster.procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{dead} exited while starting:\n{cluster.log_tail()}")
        with suppress(OSError, ValueError):
            if alive_workers(cluster.state()) >= 1:
                return
        time.sleep(1)
    raise TimeoutError(f"no worker registered in {timeout:.0f} s:\n{cluster.log_tail()}")


def processes_in(folder: Path) -> list[int]:
    """Processes whose working directory is inside ``folder`` (a worker starts each executor
    in its application's folder, and the executor's Python workers inherit it)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        with suppress(OSError):
            cwd = Path(os.readlink(proc / "cwd"))
            if cwd == folder or folder in cwd.parents:
                found.append(int(proc.name))
    return [pid for pid in found if pid != os.getpid()]


def group_members(pgid: int) -> list[int]:
    """Processes in process group ``pgid`` (field 5 of ``/proc/PID/stat``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            # The command name (field 2) may hold spaces; it ends at the last ')'.
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                found.append(int(stat.parent.name))
    return found


def _signal_group(pgid: int, sig: int) -> None:
    # Only a group that still has members: its id cannot have been reused then.
    if group_members(pgid):
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def stop(cluster: Cluster, grace: float = 20) -> None:
    """TERM the worker then the master (their process groups), KILL what outlives
    ``grace``, then KILL anything still running in the worker's folder."""
    for proc in reversed(cluster.procs):
        _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in cluster.procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
    for _ in range(10):
        left = processes_in(cluster.work)
        if not left:
            return
        for pid in left:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)


@contextmanager
def standalone_cluster(base: Path, timeout: float = 180) -> Iterator[Cluster]:
    """A master and one worker on loopback, stopped (with everything they started) on exit,
    whatever happens inside."""
    base.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(base, free_port(), free_port(), free_port(), cluster_env(base))
    try:
        _daemon(cluster, "master", ["org.apache.spark.deploy.master.Master", "--host", LOOPBACK,
                                    "--port", str(cluster.port),
                                    "--webui-port", str(cluster.ui_port)])
        _daemon(cluster, "worker", ["org.apache.spark.deploy.worker.Worker", "--host", LOOPBACK,
                                    "--cores", str(WORKER_CORES), "--memory", WORKER_MEMORY,
                                    "--webui-port", str(cluster.worker_ui_port),
                                    "--work-dir", str(cluster.work), cluster.url])
        _wait_registered(cluster, timeout)
        yield cluster
    finally:
        stop(cluster)


def submit_argv(master: str, stage: str, params: Path, overrides: list[str]) -> list[str]:
    """``spark-submit`` of ``etl/<stage>/stage.py`` to ``master`` (run it with ``cwd=ROOT``):
    the Delta package and session settings, a driver bound to loopback, the venv's Python
    on the executors, and the stage's ``--params`` / ``--set`` arguments."""
    confs = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.driver.host": LOOPBACK,
        "spark.driver.bindAddress": LOOPBACK,
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }
    return [str(BIN / "spark-submit"), "--master", master, "--deploy-mode", "client",
            "--driver-memory", DRIVER_MEMORY, "--executor-memory", EXECUTOR_MEMORY,
            "--total-executor-cores", str(WORKER_CORES), "--packages", DELTA_PACKAGE,
            *[arg for key, value in confs.items() for arg in ("--conf", f"{key}={value}")],
            f"etl/{stage}/stage.py", "--params", str(params),
            *[arg for item in overrides for arg in ("--set", item)]]


def run_submit(argv: list[str], env: dict[str, str], log: Path, timeout: float = 900) -> int:
    """Run a spark-submit in a process group of its own, output to ``log``; the group is
    killed if it outlives ``timeout``. Returns the exit status."""
    with log.open("w") as out:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
        return -signal.SIGKILL
    finally:
        _signal_group(proc.pid, signal.SIGKILL)  # nothing of the driver outlives it
