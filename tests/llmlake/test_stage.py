"""The stage shell: batches and staging of their own, reports split from timings, lineage
that changes only with the tables, Delta commits stamped with stage and batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from llmlake.config import LakeConfig, Params
from llmlake.stage import KILL_ENV, USER_METADATA, MissingInput, stage_shell


def params_in(tmp_path: Path) -> Params:
    return Params(lake=LakeConfig(root=str(tmp_path / "lake"),
                                  reports=str(tmp_path / "reports"),
                                  artifacts=str(tmp_path / "artifacts")))


def test_each_run_has_its_own_batch_and_staging_folder_removed_at_the_end(tmp_path):
    params = params_in(tmp_path)
    with stage_shell("ingest", params) as a, stage_shell("ingest", params) as b:
        assert a.batch != b.batch and a.batch.startswith("ingest-")
        assert a.staging("parsed") != b.staging("parsed")
        for shell in (a, b):
            Path(shell.staging("parsed")).mkdir(parents=True)
            (Path(shell.staging("parsed")) / "part-0").write_text("x")
    assert not (tmp_path / "lake" / "_staging" / "ingest").exists()


def test_staging_is_removed_when_the_stage_fails(tmp_path):
    with pytest.raises(RuntimeError), stage_shell("clean", params_in(tmp_path)) as sh:
        Path(sh.staging()).mkdir(parents=True)
        raise RuntimeError("boom")
    assert not Path(sh.staging()).exists()


def test_finish_splits_metrics_from_timings(tmp_path):
    params = params_in(tmp_path)
    with stage_shell("tokenizer", params) as sh:
        with sh.step("train"):
            pass
        out = sh.finish({"vocab_size": 512}, lineage={"sha256": "abc"}, train_docs_seen=3)
    reports = tmp_path / "reports"
    assert json.loads((reports / "tokenizer.json").read_text()) == {"vocab_size": 512}
    timings = json.loads((reports / "timings" / "tokenizer.json").read_text())
    assert set(timings) >= {"seconds", "steps", "batch", "finished_at", "train_docs_seen"}
    assert "train" in timings["steps"]
    lineage = json.loads((reports / "lineage" / "tokenizer.json").read_text())
    assert lineage == {"stage": "tokenizer", "inputs": {}, "tables": {}, "sha256": "abc"}
    assert out == {"vocab_size": 512, "train_docs_seen": 3}


def test_plot_tables_are_csv_records(tmp_path):
    with stage_shell("clean", params_in(tmp_path)) as sh:
        path = sh.plot("languages", [{"lang": "en", "documents": 3}, {"lang": "de",
                                                                       "documents": 1}])
    assert path.name == "clean_languages.csv"
    assert path.read_text().splitlines() == ["lang,documents", "en,3", "de,1"]


def test_missing_input_names_table_and_maker(tmp_path):
    with pytest.raises(MissingInput) as err, stage_shell("dedup", params_in(tmp_path)) as sh:
        sh.require("silver/documents")
    message = str(err.value)
    assert message.startswith("llmlake etl dedup: input table ")
    assert message.endswith("silver/documents does not exist; make it with `llmlake etl clean`")
    assert "\n" not in message
    with pytest.raises(MissingInput, match="make it with `llmlake etl tokenizer`"), \
            stage_shell("tokenize", params_in(tmp_path)) as sh:
        sh.require_artifact("tokenizer", "tokenizer.json")


def test_kill_point_kills_only_when_named(tmp_path):
    code = ("from llmlake.config import Params, LakeConfig\n"
            "from llmlake.stage import stage_shell\n"
            f"p = Params(lake=LakeConfig(root={str(tmp_path)!r}, reports={str(tmp_path)!r}))\n"
            "with stage_shell('dedup', p) as sh:\n"
            "    sh.kill_point('a')\n"
            "    print('after a', flush=True)\n"
            "    sh.kill_point('b')\n"
            "    print('after b', flush=True)\n")
    env = {**os.environ, KILL_ENV: "dedup:b"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == -signal.SIGKILL
    assert out.stdout.split("\n")[:2] == ["after a", ""]


@pytest.mark.spark
def test_lineage_is_stable_and_commits_name_stage_and_batch(spark, tmp_path):
    from delta.tables import DeltaTable

    params = params_in(tmp_path)
    path = str(tmp_path / "lake" / "silver" / "documents")
    with stage_shell("clean", params) as sh:
        sh.spark.range(3).write.format("delta").save(path)
        sh.finish({"rows": 3}, tables=("silver/documents",))
        batch = sh.batch
    first = (tmp_path / "reports" / "lineage" / "clean.json").read_text()
    history = DeltaTable.forPath(spark, path).history(1).collect()[0]
    assert json.loads(history["userMetadata"]) == {"stage": "clean", "batch": batch}
    assert spark.conf.get(USER_METADATA, None) in (None, "")  # not left on the session
    with stage_shell("clean", params) as sh:  # a rerun that writes nothing
        sh.finish({"rows": 3}, tables=("silver/documents",))
    assert (tmp_path / "reports" / "lineage" / "clean.json").read_text() == first
    assert json.loads(first)["tables"]["silver/documents"]["rows"] == 3


def test_csv_reports_keep_a_column_the_first_row_lacks(tmp_path):
    """Training logs gain MFU only once a step was timed: the column must not be lost."""
    import csv

    from llmlake.lake import write_csv

    path = write_csv(tmp_path / "log.csv", [{"step": 0, "loss": 9.0},
                                            {"step": 5, "loss": 8.0, "mfu": 0.4}])
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["step", "loss", "mfu"]
    assert [r["mfu"] for r in rows] == ["", "0.4"]


# -- staging of runs that ended, and of runs that still run -------------------------------
STAGER = """
import sys
from pathlib import Path
from llmlake.config import Params, LakeConfig
from llmlake.stage import stage_shell
p = Params(lake=LakeConfig(root=sys.argv[1], reports=sys.argv[1] + "/reports"))
with stage_shell("clean", p) as sh:
    Path(sh.staging("parsed")).mkdir(parents=True)
    (Path(sh.staging("parsed")) / "part-0").write_text("x")
    print(sh.staging(), flush=True)
    sh.kill_point("staged")
    sys.stdin.readline()  # a run still working: it holds its staging until told to end
"""


def stager(lake: Path, **env: str) -> subprocess.Popen:
    """A clean run in another process that stages a file; killed at ``staged`` when
    ``env`` says so, else it waits on its stdin."""
    return subprocess.Popen([sys.executable, "-c", STAGER, str(lake)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env}, start_new_session=True)


def test_staging_is_removed_once_the_stage_has_committed(tmp_path):
    with stage_shell("clean", params_in(tmp_path)) as sh:
        Path(sh.staging("parsed")).mkdir(parents=True)
        sh.finish({"rows": 0})
        assert not (tmp_path / "lake" / "_staging" / "clean").exists()
        sh.drop_staging()  # again: nothing left to do


def test_a_killed_runs_staging_is_removed_by_the_next_run_a_live_runs_is_kept(tmp_path):
    lake = tmp_path / "lake"
    killed = stager(lake, **{KILL_ENV: "clean:staged"})
    killed_folder = Path(killed.communicate(timeout=120)[0].strip())
    assert killed.returncode == -signal.SIGKILL
    assert (killed_folder / "parsed" / "part-0").exists()  # SIGKILL: no cleanup ran
    live = stager(lake)
    try:
        live_folder = Path(live.stdout.readline().strip())
        with stage_shell("clean", params_in(tmp_path)) as here, \
                stage_shell("clean", params_in(tmp_path)) as other:
            Path(other.staging("parsed")).mkdir(parents=True)  # a live run in this process
            here.staging()
            assert not killed_folder.exists()
            assert not list(killed_folder.parent.glob(f"{killed_folder.name}.*"))
            assert (live_folder / "parsed" / "part-0").exists()
            assert Path(other.staging("parsed")).exists()
    finally:
        live.communicate(input="\n", timeout=120)
    assert live.returncode == 0
    assert not (lake / "_staging" / "clean").exists()


def test_staging_of_an_ended_or_too_old_owner_is_swept(tmp_path):
    import time
    from datetime import UTC, datetime

    from llmlake.staging import STALE_AFTER_S, StagingFs, host_name, marker_name, sweep

    def batch(seconds_ago: float, tag: str) -> str:
        stamp = datetime.fromtimestamp(time.time() - seconds_ago, UTC)
        return f"dedup-{stamp.strftime('%Y%m%dT%H%M%S%fZ')}-{tag}"

    stage, fs, host = tmp_path / "_staging" / "dedup", StagingFs(None, local=True), host_name()
    owners = {batch(60, "aaaa"): (2**22 + 7, host),  # this host, its process has ended
              batch(60, "bbbb"): (1, "elsewhere"),  # another host: cannot be asked
              batch(0, "cccc"): (os.getpid(), host),  # this process: alive
              batch(STALE_AFTER_S + 60, "dddd"): (1, "elsewhere")}  # long ago
    for name, owner in owners.items():
        (stage / name).mkdir(parents=True)
        (stage / marker_name(name, *owner)).touch()
    (stage / "unmarked").mkdir()  # no stamp, no marker: judged by its age
    gone, remote, mine, old = owners
    assert sweep(fs, str(stage), time.time(), host) == sorted([gone, old])
    assert sorted(p.name for p in stage.iterdir()) == sorted(
        [remote, mine, "unmarked", marker_name(remote, *owners[remote]),
         marker_name(mine, *owners[mine])])
    later = time.time() + STALE_AFTER_S
    assert sweep(fs, str(stage), later, host, keep=mine) == sorted([remote, "unmarked"])


@pytest.mark.spark
def test_staging_on_a_hadoop_file_system_is_swept_and_removed(spark, tmp_path):
    """A ``file:`` lake goes through the Hadoop file system, as ``s3a:`` does."""
    from llmlake.staging import host_name, marker_name

    stage = tmp_path / "lake" / "_staging" / "clean"
    ended = "clean-20261130T000000000000Z-dead"
    (stage / ended / "part").mkdir(parents=True)
    (stage / marker_name(ended, 2**22 + 7, host_name())).touch()  # no such process
    params = Params(lake=LakeConfig(root=f"file:{tmp_path}/lake",
                                    reports=str(tmp_path / "reports")))
    with stage_shell("clean", params) as sh:
        staged = Path(sh.staging("parsed").removeprefix("file:"))
        assert not (stage / ended).exists()
        assert len(list(stage.glob("*.owner"))) == 1  # this run's own
        staged.mkdir(parents=True)
    assert not stage.exists()
