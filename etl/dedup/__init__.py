"""The ``dedup`` stage: kept silver documents to ``gold/documents``, one per cluster.

``stage.py`` is the Spark job; ``minhash`` is the signature core, ``components`` the
connected components in Spark, ``report`` and ``html`` the metrics, plots and HTML page.
"""
