"""Serving: the champion behind a BentoML service.

``generate.py`` (with ``sampling.py`` and ``stream.py``) decodes with a per-row KV cache
and continuous batching, torch only; ``service.py`` is the BentoML service (``api.py``,
``openai_api.py``, ``exchange.py``, ``scoring.py``, ``settings.py`` beside it);
``requestlog.py`` (with ``logrows.py``) writes ``ops/requests`` and ``ops/feedback``; the
``package/`` stage saves the champion into the BentoML store and builds the Bento.
"""
