"""The data half of the pipeline: one package per Spark stage, in pipeline order.

``sample`` (the embedded demo crawl), ``ingest``, ``clean``, ``dedup``, ``tokenizer``,
``tokenize``, ``export_shards`` and ``validate``. Each package's ``stage.py`` holds its
``run(params)``; the modules beside it belong to that stage alone. Every stage runs as
``llmlake etl <stage>`` (``llmlake sample`` / ``llmlake validate <table>``), as the DVC
stage of the same name, and as ``spark-submit etl/<stage>/stage.py --params params.yaml``.
"""
