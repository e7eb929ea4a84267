"""The model half: the model (torch only), batches, checkpoints and one folder per stage.

``model.py`` (GPT and hybrid, KV cache), ``data.py`` (deterministic batches from shards or
Delta rows), ``checkpoint.py`` (checkpoint and model folders) and ``hardware.py`` (peak
FLOP/s for MFU) import torch and numpy only; ``train/`` is the Ray Train stage.
"""
