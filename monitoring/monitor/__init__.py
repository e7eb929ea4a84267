"""The ``monitor`` stage: a new batch (``batch.py``) against the champion's data
(``reference.py``), described alike (``monitoring.descriptors``), judged by one Evidently
report (``report.py``) and a verdict with its reasons (``drift.py``); ``stage.py`` writes
``reports/drift.json`` and the pages."""
