"""Spark ETL jobs: sample corpus, ingest, validation (later: clean, dedup, tokenize).

Each job module has a pure core that is easy to test and a thin ``run(params)`` that does
the I/O; each also runs as ``spark-submit etl/<job>.py --params params.yaml``.
"""
