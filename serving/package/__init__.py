"""The ``package`` stage: the champion into the BentoML model store, and the Bento around it
(see ``stage.py``; ``store.py`` works the BentoML stores in a child process)."""
