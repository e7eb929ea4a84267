"""Rows: shapes, malformed lines by number, editable texts, JSONL and Delta in and out."""

from __future__ import annotations

import json

import pytest

from llmlake.stage import MissingInput, StageError
from training.augment.rows import (
    COLUMNS,
    out_row,
    parse_lines,
    read_input,
    read_output,
    segments,
    with_segments,
    write_delta,
    write_jsonl,
)


def test_malformed_lines_are_reported_with_their_numbers(input_file, rows):
    batch = read_input(str(input_file))
    assert [r.id for r in batch.rows] == [r["id"] for r in rows]
    got = {m["line"]: m["reason"] for m in batch.malformed}
    assert sorted(got) == [13, 14, 15, 16, 17]
    assert got[13].startswith("not JSON")
    assert got[14] == "not a JSON object (list)"
    assert got[15] == "prompt and response must both be text"
    assert got[16] == "messages hold no assistant turn"
    assert got[17] == "none of prompt/response, messages or text"


def test_a_line_that_is_not_utf8_is_one_problem_not_the_end_of_the_file(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"text": "one two"}\n{"text": "caf\xe9"}\n{"text": "three four"}\n')
    batch = read_input(str(path))
    assert [r.id for r in batch.rows] == ["line-1", "line-3"]
    assert batch.malformed == [{"line": 2, "reason": "not UTF-8 text"}]


def test_ids_blank_lines_and_duplicates():
    batch = parse_lines(['{"text": "a"}', "", '{"id": 7, "text": "b"}',
                         '{"id": "7", "text": "c"}', '{"messages": "hi"}'])
    assert [r.id for r in batch.rows] == ["line-1", "7"]
    assert batch.malformed == [
        {"line": 4, "reason": "duplicate id '7' (first on line 3)"},
        {"line": 5, "reason": "messages must be a list of {role, content} with roles "
                              "system/user/assistant"}]


def test_only_prompts_user_turns_and_texts_are_editable(rows):
    batch = parse_lines([json.dumps(r) for r in rows])
    for row in batch.rows:
        texts = segments(row)
        edited = with_segments(row, [t.upper() for t in texts])
        if row.kind == "pair":
            assert edited == {"prompt": texts[0].upper(), "response": row.fields["response"]}
        elif row.kind == "chat":
            for before, after in zip(row.fields["messages"], edited["messages"], strict=True):
                assert before["role"] == after["role"]
                assert after["content"] == (before["content"].upper()
                                            if before["role"] == "user" else before["content"])
        else:
            assert edited == {"text": texts[0].upper()}
    assert {r.kind for r in batch.rows} == {"pair", "chat", "text"}


def test_jsonl_output_is_atomic_and_keeps_shape(tmp_path, rows):
    batch = parse_lines([json.dumps(r) for r in rows])
    out = [out_row(r, r.fields, r.id, "original") for r in batch.rows]
    path = write_jsonl(tmp_path / "new" / "folder" / "out.jsonl", out)
    assert [p.name for p in path.parent.iterdir()] == ["out.jsonl"]  # no temp file left
    back = read_output(str(path))
    assert back == out
    assert all(set(r) - {"id", "parent_id", "method"} <= {"prompt", "response", "messages",
                                                           "text"} for r in back)


def test_delta_output_has_the_same_rows(tmp_path, rows):
    batch = parse_lines([json.dumps(r) for r in rows])
    out = [out_row(r, r.fields, r.id, "original") for r in batch.rows]
    path = str(tmp_path / "table")
    assert write_delta(path, out) == 0
    assert write_delta(path, out[:3]) == 1  # overwritten whole
    from deltalake import DeltaTable

    table = DeltaTable(path).to_pyarrow_table()
    assert table.schema.names == list(COLUMNS) and table.num_rows == 3
    write_delta(path, out)
    assert read_output(path) == out


def test_delta_input_reads_text_and_doc_id(tmp_path):
    import pyarrow as pa
    from deltalake import write_deltalake

    path = str(tmp_path / "docs")
    write_deltalake(path, pa.table({"doc_id": ["d1", "d2", "d3"],
                                    "text": ["one page", None, "two page"],
                                    "url": ["u", "v", "w"]}))
    batch = read_input(path)
    assert [(r.id, r.fields) for r in batch.rows] == [("d1", {"text": "one page"}),
                                                      ("d3", {"text": "two page"})]
    assert batch.malformed == [{"line": 2, "reason": "text must be text"}]


def test_bad_inputs_name_the_key(tmp_path):
    import pyarrow as pa
    from deltalake import write_deltalake

    with pytest.raises(MissingInput, match=r"augment.input .*none.jsonl does not exist \(the "
                                           "demo's is written by `llmlake sample`"):
        read_input(str(tmp_path / "none.jsonl"))
    (tmp_path / "folder").mkdir()
    with pytest.raises(StageError, match=r"augment.input: .* neither a JSONL file nor"):
        read_input(str(tmp_path / "folder"))
    write_deltalake(str(tmp_path / "nums"), pa.table({"n": [1, 2]}))
    with pytest.raises(StageError, match=r"augment.input: .*nums has no text column"):
        read_input(str(tmp_path / "nums"))
