"""The ``augment`` stage: seeded, tagged, capped variants of a fine-tuning set or corpus.

``llmlake augment`` reads ``augment.input`` (:mod:`.rows`: a JSONL file of prompt/response,
chat or text rows, or a Delta table with a text column), builds the synonym table when a
method needs one (:mod:`.synonyms`), makes each row's variants (:mod:`.variants`: EDA's
edits, :mod:`.eda`, and model paraphrases, :mod:`.paraphrase`), caps their share and
writes originals and variants to ``augment.out`` (a ``.jsonl`` file, else a Delta table;
``""`` = ``<lake>/gold/augmented``). Only prompts, user turns and texts are edited: a
response or assistant turn is the answer fine-tuning teaches and must stay right.

The model (``augment.model``, else the champion, else ``artifacts/model``) is loaded only
when asked for: by ``synonyms: embedding`` with the synonym or insert method, and by
paraphrase; co-occurrence or file synonyms with EDA alone need none.

``reports/augment.json``: rows in, malformed lines (count and the first ten with their line
numbers), augmented rows by method, variants dropped as identical to their parent, removed
by the cap, the share written, the synonym table's source and size, three example pairs.

Example::

    >>> import json, tempfile
    >>> from pathlib import Path
    >>> from llmlake.config import Params, LakeConfig
    >>> from llmlake.config_finetune import AugmentConfig
    >>> tmp = Path(tempfile.mkdtemp())
    >>> _ = (tmp / "in.jsonl").write_text('{"text": "one two three four five"}\\n[1]\\n')
    >>> params = Params(lake=LakeConfig(root=f"{tmp}/lake", reports=f"{tmp}/reports"),
    ...                 augment=AugmentConfig(input=f"{tmp}/in.jsonl", out=f"{tmp}/out.jsonl",
    ...                                       methods=["swap"]))
    >>> report = run(params)
    >>> report["rows_in"], report["malformed"]["count"], report["augmented"], report["share"]
    (1, 1, {'swap': 1}, 0.5)
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmlake.config import Params
from llmlake.log import get_logger
from llmlake.stage import MissingInput, StageError, stage_shell
from llmlake.stages import maker_of, stage_spec

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from training.augment.rows import Row
    from training.model import LanguageModel

log = get_logger(__name__)

MALFORMED_SHOWN = 10  # malformed lines listed in the report (all are counted)
TABLE_METHODS = ("synonym", "insert")  # the methods that draw from the synonym table


def needs_table(methods: list[str]) -> bool:
    return any(m in TABLE_METHODS for m in methods)


def needs_model(params: Params) -> bool:
    cfg = params.augment
    return "paraphrase" in cfg.methods or (cfg.synonyms == "embedding"
                                           and needs_table(cfg.methods))


def model_folder(params: Params) -> Path:
    """``augment.model``, else the champion, else ``artifacts/model``; it must exist."""
    from training.checkpoint import WEIGHTS, model_or_champion

    try:
        folder = model_or_champion(params.lake.artifacts, params.augment.model)
    except ValueError as exc:
        raise StageError(str(exc)) from exc
    if not (folder / WEIGHTS).exists():
        if params.augment.model:
            raise StageError(f"augment.model: {folder} is not a model folder (no {WEIGHTS})")
        maker = maker_of("artifacts/model")
        how = f"; make it with `{maker.command}`" if maker else ""
        raise MissingInput(f"{stage_spec('augment').command}: model folder {folder} does not "
                           f"exist (synonyms: embedding and paraphrase need a model; "
                           f"synonyms: cooccurrence or file with EDA alone do not){how}")
    return folder


def load(folder: Path) -> tuple[LanguageModel, Tokenizer]:
    """The model (eval mode, CPU) and the tokenizer saved beside it."""
    from llmlake.tokenizer import load as load_tokenizer
    from training.checkpoint import load_model

    model, _ = load_model(folder)
    try:
        tok = load_tokenizer(folder)
    except FileNotFoundError as exc:
        raise StageError(f"augment.model: {folder} holds no tokenizer ({exc})") from exc
    if tok.get_vocab_size() > model.config.vocab_size:
        raise StageError(f"augment.model: {folder}: the tokenizer's {tok.get_vocab_size()} "
                         f"ids exceed the model's vocab_size {model.config.vocab_size}")
    return model, tok


def all_texts(rows: list[Row]) -> list[str]:
    """Every text of the rows, answers included: the corpus co-occurrence is counted on."""
    out = []
    for row in rows:
        for value in row.fields.values():
            out += [m["content"] for m in value] if isinstance(value, list) else [value]
    return out


def synonym_table(params: Params, rows: list[Row], model: LanguageModel | None,
                  tok: Tokenizer | None) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """The table and its report entry (source "none" when no method needs one)."""
    from training.augment import synonyms as syn
    from training.augment.rows import segments

    cfg = params.augment
    if not needs_table(cfg.methods):
        return {}, syn.table_signals({}, "none")
    if cfg.synonyms == "file":
        table = syn.read_synonyms(cfg.synonyms_file)
    elif cfg.synonyms == "cooccurrence":
        table = syn.cooccurrence_synonyms(all_texts(rows), cfg.neighbours, cfg.min_similarity)
    else:
        edited = [t for row in rows for t in segments(row)]
        table = syn.embedding_synonyms(model.wte.weight, tok.get_vocab(), edited,
                                       cfg.neighbours, cfg.min_similarity, all_texts(rows))
    if not table:
        log.warning("augment: the %s synonym table is empty (augment.min_similarity %s): "
                    "synonym and insert variants will equal their rows and be dropped",
                    cfg.synonyms, cfg.min_similarity)
    return table, syn.table_signals(table, cfg.synonyms)


def out_path(params: Params) -> str:
    return params.augment.out or f"{params.lake.root.rstrip('/')}/gold/augmented"


def write(out: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Write the rows; what lineage records of the output."""
    from training.augment.rows import to_jsonl, write_delta, write_jsonl

    if out.endswith(".jsonl"):
        write_jsonl(Path(out), rows)
        return {"path": out, "rows": len(rows),
                "sha256": hashlib.sha256(to_jsonl(rows)).hexdigest()}
    try:
        version = write_delta(out, rows)
    except Exception as exc:  # delta-rs and storage errors alike: name the key and path
        raise StageError(f"augment.out: cannot write the Delta table {out}: "
                         f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from exc
    return {"path": out, "rows": len(rows), "version": version}


def paraphraser(params: Params, model: LanguageModel, tok: Tokenizer):
    from training.augment.paraphrase import paraphrase

    cfg = params.augment
    return lambda jobs: paraphrase(model, tok, jobs, cfg.keep, cfg.temperature)


def run(params: Params) -> dict[str, Any]:
    from training.augment.rows import read_input
    from training.augment.variants import augment

    cfg, out = params.augment, out_path(params)
    if Path(out).resolve() == Path(cfg.input).resolve():
        raise StageError(f"augment.out: {out} is augment.input: a rerun would augment its own "
                         "variants; write them elsewhere")
    with stage_shell("augment", params) as sh:
        with sh.step("read"):
            batch = read_input(cfg.input)
        with sh.step("model"):
            folder = model_folder(params) if needs_model(params) else None
            model, tok = load(folder) if folder else (None, None)
        with sh.step("synonyms"):
            table, table_info = synonym_table(params, batch.rows, model, tok)
        with sh.step("variants"):
            para = paraphraser(params, model, tok) if "paraphrase" in cfg.methods else None
            result = augment(batch.rows, cfg, table, para)
        with sh.step("write"):
            written = write(out, result.rows)
        s = result.signals
        metrics = {
            "input": cfg.input, "out": out, "model": str(folder) if folder else None,
            "rows_in": len(batch.rows),
            "malformed": {"count": len(batch.malformed),
                          "first": batch.malformed[:MALFORMED_SHOWN]},
            "made": s["made"], "identical_dropped": s["identical_dropped"],
            "variants": s["variants"], "allowed": s["allowed"], "cap": s["reason"],
            "removed_by_cap": s["removed_by_cap"], "augmented": s["augmented"],
            "rows_written": s["rows_written"], "share": s["share"], "max_share": cfg.max_share,
            "synonyms": table_info, "examples": result.examples}
        log.info("augment: %d rows (%d malformed lines skipped) -> %d written, %s augmented "
                 "(share %.3f, %d removed by the cap, %d identical dropped) to %s",
                 len(batch.rows), len(batch.malformed), s["rows_written"],
                 sum(s["augmented"].values()), s["share"], s["removed_by_cap"],
                 sum(s["identical_dropped"].values()), out)
        return sh.finish(metrics, lineage={"input": cfg.input, "out": written,
                                           "model": metrics["model"]})
