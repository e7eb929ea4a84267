"""The ``export_shards`` stage: ``gold/sequences`` as flat token files for training.

``stage.py`` reads the table with delta-rs (no JVM); the file format is
:mod:`llmlake.shards`'.
"""
