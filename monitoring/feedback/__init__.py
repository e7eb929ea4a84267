"""The ``feedback`` command: ratings of served requests into fine-tuning pairs and evaluation
rows (``signals.py``, pure), written with their lineage by ``stage.py``."""
