"""The ``ingest``  stage: ``stage.py`` holds its ``run(params)``."""
