"""The ``tokenizer`` stage: a byte-level BPE trained on the gold train split.

``stage.py`` streams the training text from Delta; ``bpe`` trains and measures. The
file format is :mod:`llmlake.tokenizer`'s, shared with training and serving.
"""
