"""The ``dedup``  stage: ``stage.py`` holds its ``run(params)``."""
