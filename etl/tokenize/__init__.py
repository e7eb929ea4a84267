"""The ``tokenize`` stage: gold documents encoded and packed into ``gold/sequences``.

``stage.py`` is the Spark job; ``packing`` is the pure cut of documents into sequences.
"""
