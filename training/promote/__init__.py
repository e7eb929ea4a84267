"""The ``promote`` stage (see ``stage.py``)."""
