"""The ``sample``  stage: ``stage.py`` holds its ``run(params)``."""
