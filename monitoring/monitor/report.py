"""The Evidently side of a drift check: the report, its files and the workspace.

:func:`evidently_report` builds one Evidently 0.7 ``Report`` of the current batch against
the reference: data drift over the descriptors (K-S for numbers, chi-square for the
language, when it takes more than one value; ``monitor.p_value`` and ``monitor.drift_share``), embedding drift (a classifier
over the champion's mean-pooled hidden states, ROC AUC against
``monitor.embedding_threshold``) and the descriptors' statistics. :func:`columns_of` reads
Evidently's own per-descriptor verdicts back from the snapshot, so the numbers in
``reports/drift.json`` are the report's. :func:`save_run` writes the HTML and JSON and adds
the snapshot to the local workspace (``evidently ui --workspace <path>`` shows the history).

Example::

    >>> frame_of([{"chars": 3, "language": "en"}], None).columns.tolist()
    ['chars', 'language']
    >>> import numpy as np
    >>> frame_of([{"chars": 3}], np.zeros((1, 2))).columns.tolist()
    ['chars', 'emb_0', 'emb_1']
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmlake.config_monitor import MonitorConfig
from monitoring.monitor.drift import Column

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PROJECT = "llmlake drift"
EMBEDDING = "embedding"


def frame_of(rows: Sequence[dict[str, Any]], embeddings: np.ndarray | None) -> pd.DataFrame:
    """Descriptor rows (and embedding columns ``emb_<i>``) as one DataFrame."""
    import pandas as pd

    frame = pd.DataFrame(list(rows))
    if embeddings is not None:
        emb = pd.DataFrame(embeddings, columns=[f"emb_{i}" for i in range(embeddings.shape[1])])
        frame = pd.concat([frame.reset_index(drop=True), emb], axis=1)
    return frame


def evidently_report(reference: pd.DataFrame, current: pd.DataFrame,
                     numeric: Sequence[str], categorical: Sequence[str], cfg: MonitorConfig
                     ) -> Any:
    """Run the Report (current first, then reference, as Evidently expects)."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import EmbeddingsDrift
    from evidently.metrics.embeddings import ModelDriftMethod
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    emb_cols = [c for c in reference.columns if c.startswith("emb_")]
    definition = DataDefinition(numerical_columns=list(numeric),
                                categorical_columns=list(categorical),
                                embeddings={EMBEDDING: emb_cols} if emb_cols else None)
    # A category with one value on both sides (every kept document is English) has no test:
    # chi-square's p is then NaN or, through rounding, 0. columns_of reports it as undrifted.
    categorical = [c for c in categorical
                   if len(set(reference[c]) | set(current[c])) > 1]
    columns = [*numeric, *categorical]
    metrics: list[Any] = [DataDriftPreset(columns=columns, drift_share=cfg.drift_share,
                                          num_method="ks", cat_method="chisquare",
                                          threshold=cfg.p_value)]
    if emb_cols:
        metrics.append(EmbeddingsDrift(embeddings_name=EMBEDDING, drift_method=ModelDriftMethod(
            threshold=cfg.embedding_threshold, bootstrap=False)))
    metrics.append(DataSummaryPreset(columns=columns))
    report = Report(metrics, include_tests=True)
    return report.run(Dataset.from_pandas(current, data_definition=definition),
                      Dataset.from_pandas(reference, data_definition=definition))


def columns_of(snapshot_dict: dict[str, Any], names: Sequence[str], p_value: float
               ) -> list[Column]:
    """Evidently's drift test of each descriptor, in ``names`` order; a descriptor it did
    not test (one value on both sides) is listed as not drifted, with no score."""
    tests = {}
    for test in snapshot_dict.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        if params.get("type") == "evidently:metric_v2:ValueDrift":
            tests[params["column"]] = str(getattr(test["status"], "value", test["status"]))
    found = []
    for metric in snapshot_dict["metrics"]:
        config = metric.get("config", {})
        if config.get("type") != "evidently:metric_v2:ValueDrift" or config["column"] not in names:
            continue
        value = float(metric["value"])  # NaN when the test is undefined (a constant column)
        found.append(Column(config["column"], config["method"],
                            value if math.isfinite(value) else None,
                            float(config["threshold"]), tests.get(config["column"]) == "FAIL"))
    tested = {c.name for c in found}
    found += [Column(name, "none: one value on both sides", None, p_value, False)
              for name in names if name not in tested]
    return sorted(found, key=lambda c: list(names).index(c.name))


def embedding_score(snapshot_dict: dict[str, Any]) -> float | None:
    for metric in snapshot_dict["metrics"]:
        if metric.get("config", {}).get("type") == "evidently:metric_v2:EmbeddingsDrift":
            value = float(metric["value"])
            return value if math.isfinite(value) else None
    return None


def save_run(snapshot: Any, folder: Path, workspace: Path, name: str) -> dict[str, str]:
    """``report.html`` and ``report.json`` under ``folder``; the snapshot into the
    workspace's project (made on first use). Returns where each went."""
    from evidently.ui.workspace import Workspace

    folder.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(folder / "report.html"))
    snapshot.save_json(str(folder / "report.json"))
    ws = Workspace.create(str(workspace))
    projects = ws.search_project(PROJECT)
    project = projects[0] if projects else ws.create_project(
        PROJECT, description="llmlake monitor: current batches against the champion's data")
    ref = ws.add_run(project.id, snapshot, name=name)
    return {"html": str(folder / "report.html"), "json": str(folder / "report.json"),
            "workspace": str(workspace), "project": str(project.id),
            "snapshot": str(getattr(ref, "id", ref))}
