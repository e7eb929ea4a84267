"""The ``evaluate`` stage (see ``stage.py``)."""
