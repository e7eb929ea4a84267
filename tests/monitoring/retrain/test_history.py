"""The retrain history file and the decision to retrain on a drift report."""

from __future__ import annotations

from monitoring.retrain.history import append_history, explain, read_history, retrain_reason


def test_history_appends_and_survives_a_torn_last_line(tmp_path):
    path = tmp_path / "reports" / "retrain_history.jsonl"
    assert read_history(path) == []
    append_history(path, {"drift_run": "r1", "status": "done"})
    append_history(path, {"drift_run": "r1b", "status": "done"})
    assert path.read_text().count("\n") == 2  # whole lines: no blank line between
    path.write_text(path.read_text().splitlines(keepends=True)[0])
    with open(path, "a") as fh:
        fh.write('{"drift_run": "r2", "sta')  # a crash in the middle of an append
    append_history(path, {"drift_run": "r3", "status": "failed"})
    assert [e["drift_run"] for e in read_history(path)] == ["r1", "r3"]  # only r2 is lost
    assert path.read_text().count("\n") == 3


def test_only_a_finished_retrain_acts_on_a_drift_report():
    drift = {"drift_detected": True, "run": "r1"}
    assert retrain_reason(drift, [{"drift_run": "r1", "status": "failed"}], False) == "drift"
    assert retrain_reason(drift, [{"drift_run": "r0", "status": "done"}], False) == "drift"
    done = [{"drift_run": "r1", "status": "done"}]
    assert retrain_reason(drift, done, False) == "already_handled"
    assert retrain_reason(drift, done, True) == "forced"
    assert retrain_reason({"drift_detected": False, "run": "r2"}, [], False) == "no_drift"


def test_a_skipped_retrain_says_why():
    assert "already acted on" in explain("already_handled", {"run": "r1"})
    assert "run `llmlake monitor` first" in explain("no_drift", None)
    assert "no drift in r2" in explain("no_drift", {"run": "r2", "drift_detected": False})


def test_a_report_is_handled_once_a_retrain_on_it_is_done():
    from monitoring.retrain.history import handled

    drift = {"drift_detected": True, "run": "r1"}
    assert not handled(drift, [])
    assert not handled(drift, [{"drift_run": "r1", "status": "failed"}])
    assert handled(drift, [{"drift_run": "r1", "status": "failed"},
                           {"drift_run": "r1", "status": "done"}])
