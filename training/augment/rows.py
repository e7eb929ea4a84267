"""The rows augment reads and writes, and which of their texts it may edit.

A row is one of three shapes, as ``llmlake finetune`` and ``ingest`` read them:

* ``pair``: ``{"prompt", "response"}``; only the prompt is edited;
* ``chat``: ``{"messages": [{"role", "content"}, ...]}`` with an assistant turn; only the
  user turns are edited;
* ``text``: ``{"text"}`` (a document); the text is edited.

Responses and assistant turns are never touched: they are what fine-tuning teaches, and an
edited answer would teach a wrong one. A variant of a question is still the same question.

Input is a JSONL file (an ``id`` key names a row, else ``line-<n>``) or a Delta table with a
``text`` column (``doc_id`` names a row). A line that cannot be a row (bad JSON, not an
object, none of the shapes, a repeated id) is kept as ``{line, reason}`` and skipped.
Output keeps the input's shape plus ``id``, ``parent_id`` and ``method``: a ``.jsonl`` file
written through a temporary file and a rename, else a Delta table overwritten whole, one
string column per field (``messages`` as JSON text).

Example::

    >>> batch = parse_lines(['{"id": "a", "prompt": "Name it.", "response": "cat"}',
    ...                      '{"prompt": 3}', '{"text": "A short page."}'])
    >>> [(row.id, row.kind, segments(row)) for row in batch.rows]
    [('a', 'pair', ['Name it.']), ('line-3', 'text', ['A short page.'])]
    >>> batch.malformed
    [{'line': 2, 'reason': 'prompt and response must both be text'}]
    >>> out_row(batch.rows[0], with_segments(batch.rows[0], ["Name this."]), "a:swap:0", "swap")
    {'id': 'a:swap:0', 'prompt': 'Name this.', 'response': 'cat', 'parent_id': 'a', 'method': 'swap'}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmlake.stage import MissingInput, StageError

ROLES = ("system", "user", "assistant")
# Every output column, in order: a Delta table's schema is the same whatever the rows hold.
COLUMNS = ("id", "parent_id", "method", "prompt", "response", "messages", "text")


@dataclass(frozen=True)
class Row:
    """One input row: its id, its shape and the shape's fields (nothing else is kept)."""

    id: str
    kind: str  # pair | chat | text
    fields: dict[str, Any]


@dataclass
class Batch:
    """The rows read, and the lines skipped as ``{"line": n, "reason": ...}``."""

    rows: list[Row] = field(default_factory=list)
    malformed: list[dict[str, Any]] = field(default_factory=list)


def shape_of(obj: Any) -> tuple[str, dict[str, Any]] | str:
    """``(kind, fields)`` of a parsed JSON value, or the reason it is no row."""
    if not isinstance(obj, dict):
        return f"not a JSON object ({type(obj).__name__})"
    if "messages" in obj:
        messages = obj["messages"]
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and m.get("role") in ROLES
                and isinstance(m.get("content"), str) for m in messages):
            return "messages must be a list of {role, content} with roles " + "/".join(ROLES)
        if not any(m["role"] == "assistant" for m in messages):
            return "messages hold no assistant turn"
        return "chat", {"messages": [{"role": m["role"], "content": m["content"]}
                                     for m in messages]}
    if "prompt" in obj or "response" in obj:
        if not (isinstance(obj.get("prompt"), str) and isinstance(obj.get("response"), str)):
            return "prompt and response must both be text"
        return "pair", {"prompt": obj["prompt"], "response": obj["response"]}
    if "text" in obj:
        if not isinstance(obj["text"], str):
            return "text must be text"
        return "text", {"text": obj["text"]}
    return "none of prompt/response, messages or text"


def parse_lines(lines: Iterable[str | bytes]) -> Batch:
    """Rows of JSONL lines (numbered from 1; blank lines are skipped silently)."""
    from llmlake.jsonl import json_lines

    batch, seen = Batch(), {}
    for n, obj, problem in json_lines(lines):
        if problem:
            batch.malformed.append({"line": n, "reason": problem})
            continue
        _add(batch, seen, n, obj, obj.get("id") if isinstance(obj, dict) else None,
             f"line-{n}")
    return batch


def _add(batch: Batch, seen: dict[str, int], n: int, obj: Any, given: Any,
         default: str) -> None:
    shape = shape_of(obj)
    row_id = default if given is None else str(given)
    if isinstance(shape, str):
        batch.malformed.append({"line": n, "reason": shape})
    elif row_id in seen:  # a variant's parent_id must name one row
        batch.malformed.append({"line": n, "reason": f"duplicate id {row_id!r} "
                                                     f"(first on line {seen[row_id]})"})
    else:
        seen[row_id] = n
        batch.rows.append(Row(row_id, *shape))


def read_input(path: str) -> Batch:
    """The rows of ``augment.input``: a JSONL file or a Delta table with a text column."""
    from llmlake.stages import stage_spec

    if not path:
        raise StageError("augment.input: name a JSONL file or a Delta table")
    if Path(path).is_file():
        try:
            with open(path, "rb") as fh:  # bytes: a line that is not UTF-8 is one problem
                return parse_lines(fh)
        except OSError as exc:
            raise StageError(f"augment.input: cannot read {path}: {exc}") from exc
    if "://" not in path and not Path(path).exists():
        raise MissingInput(f"llmlake augment: augment.input {path} does not exist (the "
                           f"demo's is written by `{stage_spec('sample').command}`)")
    return read_delta(path)


def read_delta(path: str) -> Batch:
    """Rows of a Delta table's ``text`` column (gold/documents-like), named by ``doc_id``."""
    from llmlake.storage import open_table, table_exists

    try:
        if not table_exists(path):
            raise StageError(f"augment.input: {path} is neither a JSONL file nor a Delta table")
        data = open_table(path).to_pyarrow_dataset()
        if "text" not in data.schema.names:
            raise StageError(f"augment.input: {path} has no text column")
        columns = ["text", *(["doc_id"] if "doc_id" in data.schema.names else [])]
        records = data.to_table(columns=columns).to_pylist()
    except StageError:
        raise
    except Exception as exc:  # delta-rs, Arrow and storage errors alike: name the table
        raise StageError(f"augment.input: cannot read {path}: {type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:300]}") from exc
    batch, seen = Batch(), {}
    for n, record in enumerate(records, 1):
        _add(batch, seen, n, {"text": record["text"]}, record.get("doc_id"), f"row-{n}")
    return batch


def segments(row: Row) -> list[str]:
    """The texts of ``row`` that augment may edit (see the module doc)."""
    if row.kind == "pair":
        return [row.fields["prompt"]]
    if row.kind == "chat":
        return [m["content"] for m in row.fields["messages"] if m["role"] == "user"]
    return [row.fields["text"]]


def with_segments(row: Row, texts: list[str]) -> dict[str, Any]:
    """``row``'s fields with its editable texts replaced by ``texts``, in order."""
    if row.kind == "pair":
        return {**row.fields, "prompt": texts[0]}
    if row.kind == "text":
        return {"text": texts[0]}
    it = iter(texts)
    return {"messages": [{**m, "content": next(it)} if m["role"] == "user" else dict(m)
                         for m in row.fields["messages"]]}


def out_row(row: Row, fields: dict[str, Any], row_id: str, method: str) -> dict[str, Any]:
    return {"id": row_id, **fields, "parent_id": row.id, "method": method}


def to_jsonl(rows: list[dict[str, Any]]) -> bytes:
    """One JSON object a line, keys in their fixed order: the same rows, the same bytes."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Through a temporary file and a rename (:func:`llmlake.lake.write_atomic`): no half
    files."""
    from llmlake.lake import write_atomic

    return write_atomic(path, lambda fh: fh.write(to_jsonl(rows).decode()))


def columns_of(rows: list[dict[str, Any]]) -> dict[str, list[str | None]]:
    """Every :data:`COLUMNS` entry as a list of strings (null where a row has no such
    field; ``messages`` as JSON text)."""
    return {c: [(json.dumps(r[c], ensure_ascii=False) if c == "messages" else r[c])
                if c in r else None for r in rows] for c in COLUMNS}


def write_delta(path: str, rows: list[dict[str, Any]]) -> int:
    """Overwrite the Delta table at ``path`` with ``rows``; the version written."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from llmlake.storage import open_table, storage_options

    schema = pa.schema([(c, pa.string()) for c in COLUMNS])
    table = pa.table(columns_of(rows), schema=schema)
    write_deltalake(path, table, mode="overwrite", schema_mode="overwrite",
                    storage_options=storage_options(path))
    return open_table(path).version()


def read_output(path: str) -> list[dict[str, Any]]:
    """The rows of an augment output, JSONL or Delta, as dicts of the fields they hold."""
    if path.endswith(".jsonl"):
        return [json.loads(line) for line in Path(path).read_text().splitlines()]
    from llmlake.storage import open_table

    records = open_table(path).to_pyarrow_dataset().to_table().to_pylist()
    return [{c: (json.loads(r[c]) if c == "messages" else r[c]) for c in COLUMNS
             if r.get(c) is not None} for r in records]
