"""The ``export`` stage (see ``stage.py``)."""
