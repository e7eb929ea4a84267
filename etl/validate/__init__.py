"""The ``validate``  stage: ``stage.py`` holds its ``run(params)``."""
