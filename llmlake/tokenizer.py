"""The tokenizer's on-disk format: what every stage, trainer and server agrees on.

``artifacts/tokenizer/`` holds ``tokenizer.json`` (``tokenizers.Tokenizer.from_file``) and
the ``tokenizer_config.json`` and ``special_tokens_map.json`` that
``transformers.AutoTokenizer.from_pretrained(folder)`` reads. Every vocabulary starts with
the special tokens ``<|endoftext|>`` (id 0, the end of every document) and ``<|pad|>``
(id 1). :func:`load` returns a tokenizer that encodes special-token strings found in
document text as plain text, so no page can forge a document boundary. The tokenizer is
trained by ``etl/tokenizer``, used by ``etl/tokenize`` and ``etl/export_shards``, and later
by training and serving: hence it lives here, beside the shard format.

Example::

    >>> from tokenizers import Tokenizer, models
    >>> tok = for_documents(Tokenizer(models.BPE()))
    >>> tok.encode_special_tokens
    True
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenizers import Tokenizer

EOS = "<|endoftext|>"
PAD = "<|pad|>"
# Listed first when training, so their ids are 0 and 1 in every vocabulary.
SPECIAL_TOKENS = (EOS, PAD)
TOKENIZER_FILE = "tokenizer.json"


def save(tok: Tokenizer, folder: str | Path) -> Path:
    """Write the tokenizer and the two small files transformers needs beside it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TOKENIZER_FILE
    tok.save(str(path))
    specials = {"bos_token": EOS, "eos_token": EOS, "unk_token": EOS, "pad_token": PAD}
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **specials,
        # Any other value would change the text on decode and break the round trip.
        "clean_up_tokenization_spaces": False,
        "add_prefix_space": False,
        # As for_documents: special-token strings in text are encoded as text.
        "split_special_tokens": True,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")
    return path


def for_documents(tok: Tokenizer) -> Tokenizer:
    """Encode special-token strings found in text as plain text (in place; returns ``tok``).

    Document text is data: a page that quotes ``<|endoftext|>`` must not forge a document
    boundary. The setting is not saved in ``tokenizer.json``, so every loader sets it.
    """
    tok.encode_special_tokens = True
    return tok


def load(path: str | Path) -> Tokenizer:
    """Load a saved tokenizer for encoding documents; ``path`` is ``tokenizer.json`` or its
    folder."""
    from tokenizers import Tokenizer

    path = Path(path)
    if path.is_dir():
        path = path / TOKENIZER_FILE
    if not path.exists():
        raise FileNotFoundError(f"no tokenizer at {path}: run `llmlake etl tokenizer` first")
    return for_documents(Tokenizer.from_file(str(path)))


def file_hash(path: str | Path) -> str:
    """SHA-256 of a tokenizer file: what shards and sequences record as the tokenizer."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
