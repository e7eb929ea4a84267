"""The ``export_shards``  stage: ``stage.py`` holds its ``run(params)``."""
