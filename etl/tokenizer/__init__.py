"""The ``tokenizer``  stage: ``stage.py`` holds its ``run(params)``."""
