"""The ``export`` command: a model folder in another tool's format (``hf.py``: transformers'
Llama layout; ``stage.py``: ``llmlake export``)."""
