"""What ``llmlake report`` reads: every stage's report in the reports folder, read once.

:func:`read_reports` does all the file reading, so the section builders
(:mod:`monitoring.report.data_sections`, :mod:`monitoring.report.model_sections`) are pure functions of
its result. Nothing here raises on a bad input: a missing file is simply absent, and a file
that cannot be parsed is named in ``problems`` with the reason, for its section to show.

The result holds:

* ``json``: ``{stem: object}`` of each ``<stem>.json`` in :data:`JSON_INPUTS` that parsed
  as a JSON object;
* ``logs``: ``{"train": rows, "finetune": rows}`` of the loss logs (``<name>/log.csv``), each
  row ``{column: float or None}``;
* ``history``: the retrain history's events, or None when there is no history file;
* ``pages``: the HTML pages beside the report (relative paths, sorted);
* ``problems``: ``{input: message}`` for every input that exists but could not be read.

:func:`made_by` names the command that writes a report, from the stage table.

Example::

    >>> import json, tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "clean.json").write_text(json.dumps({"documents": {"kept": 2}}))
    >>> _ = (folder / "dedup.json").write_text("{not json")
    >>> reports = read_reports(folder)
    >>> reports["json"]["clean"]["documents"]["kept"]
    2
    >>> reports["problems"]["dedup"]
    'reports/dedup.json is not valid JSON (line 1, column 2)'
    >>> made_by("validate_gold"), made_by("eval"), made_by("train/log.csv")
    ('llmlake validate gold', 'llmlake evaluate', 'llmlake train')
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from llmlake.stages import STAGES, stage_spec

VALIDATED = ("bronze", "silver", "gold", "sequences")
JSON_INPUTS = (
    "sample", "ingest", "clean", "dedup", "tokenizer", "tokenize", "export_shards", "train",
    "eval", "bias", "promotion", "ablate", "drift", "tune_best", "finetune", "augment",
    "bento", *(f"validate_{t}" for t in VALIDATED))
LOGS = ("train", "finetune")
HISTORY = "retrain_history.jsonl"
# The page this stage writes: never listed among the pages it links to.
INDEX = "index.html"


def read_reports(folder: str | Path) -> dict[str, Any]:
    """Everything the page shows, read from the reports folder ``folder``."""
    folder = Path(folder)
    problems: dict[str, str] = {}
    data = {}
    for stem in JSON_INPUTS:
        value = _read_json(folder / f"{stem}.json", f"reports/{stem}.json", problems, stem)
        if value is not None:
            data[stem] = value
    logs = {}
    for name in LOGS:
        rows = _read_log(folder / name / "log.csv", f"reports/{name}/log.csv", problems, name)
        if rows is not None:
            logs[name] = rows
    return {"json": data, "logs": logs, "problems": problems,
            "history": _read_history(folder / HISTORY, problems), "pages": _pages(folder)}


def _read_json(path: Path, shown: str, problems: dict[str, str], key: str) -> Any:
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        problems[key] = f"{shown} is not valid JSON (line {exc.lineno}, column {exc.colno})"
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems[key] = f"{shown} cannot be read ({type(exc).__name__})"
        return None
    if not isinstance(value, dict):
        problems[key] = f"{shown} is not a JSON object"
        return None
    return value


def _read_log(path: Path, shown: str, problems: dict[str, str],
              key: str) -> list[dict[str, float | None]] | None:
    """The rows of a training log; a row with a value that is not a number makes the log
    unreadable as a whole rather than a curve with a silent gap."""
    if not path.exists():
        return None
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [{k: _number(v) for k, v in row.items() if k} for row in csv.DictReader(fh)]
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        problems[f"{key}/log.csv"] = f"{shown} cannot be read as a loss log: {exc}"
        return None
    return rows


def _number(text: str | None) -> float | None:
    if text is None or text.strip() == "":
        return None
    return float(text)  # ValueError: the caller reports the log as unreadable


def _read_history(path: Path, problems: dict[str, str]) -> list[dict[str, Any]] | None:
    if not path.exists():
        return None
    from monitoring.retrain.history import read_history

    try:
        events = read_history(path)
    except (OSError, UnicodeDecodeError) as exc:
        problems["retrain_history"] = f"reports/{HISTORY} cannot be read ({type(exc).__name__})"
        return None
    return [e for e in events if isinstance(e, dict)]


def _pages(folder: Path) -> list[str]:
    """HTML pages the report can link to: stage pages, data docs and drift reports."""
    if not folder.is_dir():
        return []
    found = [p.name for p in folder.glob("*.html") if p.name != INDEX]
    found += [p.relative_to(folder).as_posix() for p in folder.glob("gx/*/index.html")]
    for name in ("index.html", "report.html"):
        found += [p.relative_to(folder).as_posix() for p in folder.glob(f"drift/*/{name}")]
    return sorted(found)


def made_by(name: str) -> str:
    """The command that writes ``reports/<name>`` (a report stem or a path under reports)."""
    stem = name.split("/")[0].removesuffix(".json")
    if stem.startswith("validate_"):
        return stage_spec("validate").command_for(stem.removeprefix("validate_"))
    for spec in STAGES:
        if (spec.report or spec.name) == stem:
            return spec.command
    return "dvc repro"
