"""The ``train`` stage: Ray Train over the loop, checkpoints, resume, the model folder."""
