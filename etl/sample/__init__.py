"""The ``sample`` stage: a deterministic web crawl with planted defects and its truth.

``stage.py`` runs it; ``plan`` fixes what the config alone decides, ``documents`` makes
each document and its defects, ``writer`` writes the WARC, WET, JSONL and Parquet shards,
``tally`` keeps the truth file and counts; ``lexicon``, ``text``, ``pages``, ``sites`` and
``files`` are the building blocks they share.
"""
