"""The ``tokenize``  stage: ``stage.py`` holds its ``run(params)``."""
