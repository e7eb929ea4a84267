"""The ``ingest`` stage: raw corpora (WARC, WET, JSONL, Parquet) into ``bronze/documents``.

``stage.py`` is the Spark job; ``readers`` (with ``warc``, ``resync`` and ``records``) is the
pure per-file core, and ``account`` keeps the books that prove no record was lost.
"""
